"""Refresh rotating tokens that expire soon, so quiet workspaces keep working (bolt-python #1084, #1332).

Safe from cron on several hosts at once: each workspace is refreshed under the same single-flight
lock the event path uses, and rows are re-read after taking it, so a token is refreshed once.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from installations import models
from installations.rotation import RefreshRefused, due_workspaces, refresh_workspace
from installations.stores import installation_store


class Command(BaseCommand):
    help = "Refresh bot and user tokens expiring within --within minutes (default: the rotation window)."

    def add_arguments(self, parser):
        parser.add_argument("--within", type=int, default=settings.SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES)

    def handle(self, *args, within, **options):
        store = installation_store()
        active = models.Workspace.objects.filter(client_id=store.client_id, status=models.Workspace.ACTIVE)
        refreshed = failed = workspaces = 0
        for workspace in due_workspaces(active, within):
            workspaces += 1
            try:
                done = refresh_workspace(
                    store, workspace.enterprise_id, workspace.team_id, within=within, actor="refresh_tokens"
                )
            except RefreshRefused as refused:
                failed += 1
                self.stderr.write(f"{workspace}: refused by Slack ({refused}); needs reinstall")
            except Exception as error:
                failed += 1
                self.stderr.write(f"{workspace}: refresh failed ({type(error).__name__}); will retry next run")
            else:
                refreshed += len(done)
        self.stdout.write(f"Refreshed {refreshed} tokens in {workspaces} workspaces; {failed} failed.")
