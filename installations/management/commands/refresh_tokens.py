"""Refresh rotating tokens that expire soon, so quiet workspaces keep working (bolt-python #1084, #1332).

Safe from cron on several hosts at once: each workspace is refreshed under the same single-flight
lock the event path uses, and rows are re-read after taking it, so a token is refreshed once.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from installations import models
from installations.rotation import RefreshRefused, refresh_workspace


class Command(BaseCommand):
    help = "Refresh bot and user tokens expiring within --within minutes (default: the rotation window)."

    def add_arguments(self, parser):
        parser.add_argument("--within", type=int, default=settings.SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES)

    def handle(self, *args, within, **options):
        from bolt_app.app import get_store

        store = get_store()
        horizon = timezone.now() + timedelta(minutes=within)
        due_users = models.Installation.objects.filter(
            client_id=store.client_id, user_refresh_token__isnull=False, user_token_expires_at__lte=horizon
        )
        due_workspaces = models.Workspace.objects.filter(client_id=store.client_id, status=models.Workspace.ACTIVE).filter(
            Q(bots__bot_refresh_token__isnull=False, bots__bot_token_expires_at__lte=horizon)
            | Q(installations__in=due_users)
        ).distinct()
        refreshed = failed = 0
        for workspace in due_workspaces:
            user_ids = list(due_users.filter(workspace=workspace).values_list("user_id", flat=True).distinct())
            try:
                done = refresh_workspace(
                    store, workspace.enterprise_id, workspace.team_id, user_ids=user_ids, minutes=within,
                    actor="refresh_tokens",
                )
            except RefreshRefused as refused:
                failed += 1
                self.stderr.write(f"{workspace}: refused by Slack ({refused}); needs reinstall")
            except Exception as error:
                failed += 1
                self.stderr.write(f"{workspace}: refresh failed ({type(error).__name__}); will retry next run")
            else:
                refreshed += len(done)
        self.stdout.write(f"Refreshed {refreshed} tokens in {due_workspaces.count()} workspaces; {failed} failed.")
