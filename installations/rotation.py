"""Token rotation, single-flight across processes.

Slack invalidates a refresh token once it is used, so two workers refreshing one installation at
once leave one of them with `invalid_refresh_token` (node-slack-sdk #2504, bolt-python #663). Here a
refresh takes a per-workspace lock (a Redis lock with REDIS_URL, else a lease on the workspace row),
re-reads the rows, refreshes only what is still due, saves, and invalidates the cache after commit;
waiters then read the new token.
"""

import logging
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone as django_timezone
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Bot

from installations import models
from installations.slack_api import web_client
from installations.stores import BOT_TOKEN_FIELDS, USER_TOKEN_FIELDS, redis_client, redis_key, workspace_ids

logger = logging.getLogger(__name__)


class RefreshRefused(Exception):
    """Slack refused a refresh (e.g. `invalid_refresh_token`): the workspace needs a reinstall."""


def is_due(expires_at, minutes=None) -> bool:
    """`expires_at`: epoch seconds (slack_sdk) or an aware datetime (our rows)."""
    if expires_at is None:
        return False
    if isinstance(expires_at, datetime):
        expires_at = expires_at.timestamp()
    minutes = settings.SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES if minutes is None else minutes
    return expires_at <= time.time() + minutes * 60


def installation_is_due(installation, minutes=None) -> bool:
    """Whether an `Installation`'s (or a `Bot`'s) tokens are due for a refresh."""
    user_refresh_token = getattr(installation, "user_refresh_token", None)  # a Bot has no user token
    return (installation.bot_refresh_token is not None and is_due(installation.bot_token_expires_at, minutes)) or (
        user_refresh_token is not None and is_due(installation.user_token_expires_at, minutes)
    )


def due_workspaces(workspaces, minutes=None):
    """`workspaces` (a Workspace queryset) narrowed to those with a bot or user token that can be
    refreshed and expires within `minutes` (default: the rotation window)."""
    minutes = settings.SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES if minutes is None else minutes
    horizon = django_timezone.now() + timedelta(minutes=minutes)
    bots = models.Bot.objects.filter(
        workspace=OuterRef("pk"), bot_refresh_token__isnull=False, bot_token_expires_at__lte=horizon
    )
    users = models.Installation.objects.filter(
        workspace=OuterRef("pk"), user_refresh_token__isnull=False, user_token_expires_at__lte=horizon
    )
    return workspaces.filter(Exists(bots) | Exists(users))


@contextmanager
def workspace_lock(client_id, enterprise_id, team_id, wait_seconds=30):
    """Hold the workspace's rotation lock: a Redis lock with REDIS_URL, else a lease on its row.

    The lease is a short UPDATE, not a transaction held across the HTTP call to Slack: a long
    transaction would block every other writer on SQLite.
    """
    if settings.REDIS_URL:
        lock = redis_client().lock(redis_key("rotation", client_id, enterprise_id, team_id), timeout=60)
        if not lock.acquire(blocking_timeout=wait_seconds):
            raise TimeoutError("token rotation lock busy")
        try:
            yield
        finally:
            lock.release()
        return
    rows = models.Workspace.objects.of(client_id, enterprise_id, team_id)
    deadline = time.monotonic() + wait_seconds
    while True:
        now = django_timezone.now()
        free = Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now)
        if rows.filter(free).update(refresh_lease_until=now + timedelta(seconds=60)) or not rows.exists():
            break
        if time.monotonic() > deadline:
            raise TimeoutError("token rotation lock busy")
        time.sleep(0.05)
    try:
        yield
    finally:
        rows.update(refresh_lease_until=None)


def _refresh(refresh_token):
    response = web_client().oauth_v2_access(
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        grant_type="refresh_token",
        refresh_token=refresh_token,
    )
    expires_at = datetime.fromtimestamp(int(time.time()) + int(response["expires_in"]), tz=timezone.utc)
    return response["access_token"], response.get("refresh_token"), expires_at


def refresh_workspace(
    store, enterprise_id, team_id, user_ids=(), minutes=None, actor="slackhub", force=False, every_user=False
):
    """Refresh the workspace's bot token and the given users' (or, `every_user`, all users') tokens
    that are due (or all, `force`).

    Returns the list of what was refreshed ("bot", user ids). Raises `RefreshRefused` when Slack
    refuses; the workspace is then marked as needing a reinstall and not retried until reinstalled.
    """
    enterprise_id, team_id = workspace_ids(enterprise_id, team_id)
    client_id = store.client_id
    due = (lambda expires_at: expires_at is not None) if force else (lambda expires_at: is_due(expires_at, minutes))
    refreshed, refused = [], None
    with workspace_lock(client_id, enterprise_id, team_id):
        workspace = models.Workspace.objects.of(client_id, enterprise_id, team_id).first()
        if workspace is None:
            return refreshed
        if workspace.status == models.Workspace.NEEDS_REINSTALL:
            raise RefreshRefused("the workspace needs a reinstall")
        scope = dict(client_id=client_id, enterprise_id=enterprise_id, team_id=team_id)
        to_save = []
        try:
            bot = models.Bot.objects.filter(bot_token__isnull=False, **scope).order_by("-installed_at").first()
            if bot is not None and bot.bot_refresh_token and due(bot.bot_token_expires_at):
                old_token = bot.bot_token
                bot.bot_token, bot.bot_refresh_token, bot.bot_token_expires_at = _refresh(bot.bot_refresh_token)
                to_save.append((bot, BOT_TOKEN_FIELDS))
                # The installation row of the same install holds a copy of the bot token.
                for row in models.Installation.objects.filter(installed_at=bot.installed_at, **scope):
                    if row.bot_token == old_token:
                        for name in BOT_TOKEN_FIELDS:
                            setattr(row, name, getattr(bot, name))
                        to_save.append((row, BOT_TOKEN_FIELDS))
                refreshed.append("bot")
            rows = models.Installation.objects.filter(user_token__isnull=False, **scope).order_by("-installed_at")
            latest_per_user = {}
            for row in rows if every_user else rows.filter(user_id__in=user_ids):
                latest_per_user.setdefault(row.user_id, row)
            for user_id, row in latest_per_user.items():
                if row.user_refresh_token and due(row.user_token_expires_at):
                    row.user_token, row.user_refresh_token, row.user_token_expires_at = _refresh(row.user_refresh_token)
                    to_save.append((row, USER_TOKEN_FIELDS))
                    refreshed.append(user_id)
        except SlackApiError as error:
            refused = RefreshRefused(error.response.get("error", "unknown_error"))
        # Save what was refreshed even when a later refresh failed: its old refresh token is spent.
        with transaction.atomic():
            for row, fields in to_save:
                row.save(update_fields=fields)
            if refreshed:
                _record(workspace, models.InstallationEvent.REFRESHED, actor, "refreshed: " + ", ".join(refreshed))
            if refused:
                workspace.status = models.Workspace.NEEDS_REINSTALL
                workspace.status_reason = f"refresh refused: {refused}"
                workspace.save(update_fields=["status", "status_reason"])
                _record(workspace, models.InstallationEvent.REFRESH_FAILED, actor, str(refused))
                logger.error("Token refresh refused for %s (%s); the workspace needs a reinstall", workspace, refused)
        if refreshed or refused:
            # Before the lock is released: a process that waited for it then reads the new tokens.
            store.invalidate(enterprise_id, team_id)
    if refused:
        raise refused
    return refreshed


def _record(workspace, kind, actor, detail):
    models.InstallationEvent.objects.create(workspace=workspace, kind=kind, actor=actor, detail=detail)


def refresh_due_tokens(store, installation, user_id=None) -> bool:
    """Refresh the due tokens of `installation` (an `Installation` or a `Bot`), once across processes.

    True when the store holds newer tokens to read (refreshed here, or by the process that held the
    workspace's lock first); False when nothing was due, or the refresh failed or was refused: the
    current (possibly still valid) tokens stay in use.
    """
    if not installation_is_due(installation):
        return False
    user_ids = [uid for uid in {getattr(installation, "user_id", None), user_id} if uid]
    try:
        refresh_workspace(store, installation.enterprise_id, installation.team_id, user_ids=user_ids)
    except RefreshRefused:
        return False
    except Exception as error:  # Slack or the lock unreachable: keep serving with the current token
        logger.warning("Token refresh failed for team %s: %s", installation.team_id, type(error).__name__)
        return False
    return True


def refreshed_if_due(store, installation, user_id=None):
    """`installation` (an `Installation` or a `Bot` from the store, or None), read again after its
    due tokens were refreshed; as it was when nothing was refreshed."""
    if installation is None or not refresh_due_tokens(store, installation, user_id):
        return installation
    ids = dict(
        enterprise_id=installation.enterprise_id,
        team_id=installation.team_id,
        is_enterprise_install=installation.is_enterprise_install,
    )
    if isinstance(installation, Bot):
        return store.find_bot(**ids)
    return store.find_installation(user_id=user_id, **ids)
