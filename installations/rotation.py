"""Token rotation, single-flight across processes.

Slack invalidates a refresh token once it is used, so two workers refreshing one installation at
once leave one of them with `invalid_refresh_token` (node-slack-sdk #2504, bolt-python #663). Here a
refresh takes a per-workspace lock (a Redis lock with REDIS_URL, else a lease on the workspace row),
re-reads the rows, refreshes only what is still due, saves, and tells the store before releasing
the lock; waiters then read the new token.

Two ways in: `fresh_credentials` (what a request to Slack is made with, refreshed first when due:
Bolt's authorize and `client_for_workspace`) and `refresh_workspace` (cron, operators).
"""

import logging
import math
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, Optional

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone as django_timezone
from slack_sdk.errors import SlackApiError

from installations import models
from installations.redis_cache import redis_client, redis_key
from installations.slack_api import web_client
from installations.stores import BOT_TOKEN_FIELDS, USER_TOKEN_FIELDS, workspace_ids

logger = logging.getLogger(__name__)

ANYTIME = math.inf  # `within=ANYTIME`: every rotating token is due


class RefreshRefused(Exception):
    """Slack refused a refresh (e.g. `invalid_refresh_token`): the workspace needs a reinstall."""


def _minutes(within):
    return settings.SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES if within is None else within


def _expires_soon(expires_at, within=None) -> bool:
    """`expires_at`: epoch seconds (slack_sdk) or an aware datetime (our rows); None never expires."""
    if expires_at is None:
        return False
    if isinstance(expires_at, datetime):
        expires_at = expires_at.timestamp()
    return expires_at <= time.time() + _minutes(within) * 60


def is_due(entity, within=None) -> bool:
    """Whether an `Installation`'s or a `Bot`'s rotating tokens expire within `within` minutes
    (default: SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES)."""
    user_refresh_token = getattr(entity, "user_refresh_token", None)  # a Bot has no user token
    return (entity.bot_refresh_token is not None and _expires_soon(entity.bot_token_expires_at, within)) or (
        user_refresh_token is not None and _expires_soon(entity.user_token_expires_at, within)
    )


def due_workspaces(workspaces, within=None):
    """`workspaces` (a Workspace queryset) narrowed to those with a bot or user token that can be
    refreshed and expires within `within` minutes (default: the rotation window)."""
    horizon = django_timezone.now() + timedelta(minutes=_minutes(within))
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


def refresh_workspace(store, enterprise_id, team_id, *, users=None, within=None, actor="slackhub"):
    """Refresh the workspace's bot token and its users' tokens (`users`: those user ids; None:
    every user) that expire within `within` minutes (default: the rotation window; `ANYTIME`: every
    rotating token, now).

    Returns the list of what was refreshed ("bot", user ids). Raises `RefreshRefused` when Slack
    refuses; the workspace is then marked as needing a reinstall and not retried until reinstalled.
    """
    enterprise_id, team_id = workspace_ids(enterprise_id, team_id)
    client_id = store.client_id
    refreshed, refused, unreachable = [], None, None
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
            if bot is not None and bot.bot_refresh_token and _expires_soon(bot.bot_token_expires_at, within):
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
            for row in rows if users is None else rows.filter(user_id__in=users):
                latest_per_user.setdefault(row.user_id, row)
            for user_id, row in latest_per_user.items():
                if row.user_refresh_token and _expires_soon(row.user_token_expires_at, within):
                    row.user_token, row.user_refresh_token, row.user_token_expires_at = _refresh(row.user_refresh_token)
                    to_save.append((row, USER_TOKEN_FIELDS))
                    refreshed.append(user_id)
        except SlackApiError as error:
            refused = RefreshRefused(error.response.get("error", "unknown_error"))
        except Exception as error:  # Slack unreachable, a timeout: raised once what was rotated is saved
            unreachable = error
        # Save what was refreshed even when a later refresh failed: its old refresh token is spent.
        with transaction.atomic():
            for row, fields in to_save:
                row.save(update_fields=fields)
            if refreshed:
                models.InstallationEvent.record(
                    workspace, models.InstallationEvent.REFRESHED, actor=actor, detail="refreshed: " + ", ".join(refreshed)
                )
            if refused:
                workspace.status = models.Workspace.NEEDS_REINSTALL
                workspace.status_reason = f"refresh refused: {refused}"
                workspace.save(update_fields=["status", "status_reason"])
                models.InstallationEvent.record(
                    workspace, models.InstallationEvent.REFRESH_FAILED, actor=actor, detail=str(refused)
                )
                logger.error("Token refresh refused for %s (%s); the workspace needs a reinstall", workspace, refused)
        if refreshed or refused:
            # Before the lock is released: a process that waited for it then reads the new tokens.
            store.workspace_changed(enterprise_id, team_id)
    if refused:
        raise refused
    if unreachable is not None:
        raise unreachable
    return refreshed


class Credentials(NamedTuple):
    """What requests to Slack for a workspace are made with.

    `found`: the workspace's latest `Installation`, or, when none is left, its latest `Bot` (Bolt's
    fallback: a bot saved alone, or left by `delete_installation`); `user`: the requesting user's
    own latest `Installation` (None when they have none); `bot_token` / `user_token`: usable
    (unexpired) tokens, or None.
    """

    found: object
    user: object
    bot_token: Optional[str]
    user_token: Optional[str]


def fresh_credentials(store, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False):
    """The workspace's `Credentials` for a request by `user_id` (None: the bot's own), with the
    tokens due within the rotation window refreshed first (once across processes); None when the
    workspace has no usable token. A failed or refused refresh keeps the current tokens in use
    while they last."""
    ids = dict(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)

    def read():
        latest, mine = store.find_authorization(user_id=user_id, **ids)
        return (latest, mine) if latest is not None else (store.find_bot(**ids), None)

    found, mine = read()
    if any(entity is not None and is_due(entity) for entity in (found, mine)):
        users = {getattr(found, "user_id", None), user_id} - {None}
        try:  # by the ids the rows are stored under (an org-wide install's have no team)
            refresh_workspace(store, found.enterprise_id, found.team_id, users=sorted(users))
        except RefreshRefused:
            pass
        except Exception as error:  # Slack or the lock unreachable: keep serving with the current token
            logger.warning("Token refresh failed for team %s: %s", team_id, type(error).__name__)
        else:
            found, mine = read()
    if found is None:
        return None
    bot_token = _usable(found.bot_token, found.bot_token_expires_at)
    user_token = _usable(mine.user_token, mine.user_token_expires_at) if mine else None
    if bot_token is None and user_token is None:
        return None
    return Credentials(found, mine, bot_token, user_token)


def _usable(token, expires_at):
    return token if token and (expires_at is None or expires_at > time.time()) else None
