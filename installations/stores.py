"""slack_sdk's InstallationStore and OAuthStateStore contracts on the Django ORM.

Behaves like slack_sdk's SQLAlchemy store, field for field (history rows, latest by installed_at,
find_installation borrowing the latest bot token), with three differences: every query is scoped by
`client_id`; an in-place re-save never wipes another user's token with the nulls Bolt's authorize
puts on the object it rotates; and each write keeps the `Workspace` row and the audit trail current.
"""

import logging
import secrets
from datetime import datetime, timedelta, timezone
from typing import Optional

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone as django_timezone
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from installations import models

USER_TOKEN_FIELDS = ["user_token", "user_refresh_token", "user_token_expires_at"]
BOT_TOKEN_FIELDS = ["bot_token", "bot_refresh_token", "bot_token_expires_at"]
_USER_FIELDS = USER_TOKEN_FIELDS + ["user_scopes"]
_BOT_FIELDS = BOT_TOKEN_FIELDS + ["bot_id", "bot_user_id", "bot_scopes"]


def workspace_ids(enterprise_id, team_id, is_enterprise_install=False):
    """Normalize ids the way slack_sdk's stores do: "" is none; org-wide installs have no team."""
    if is_enterprise_install or not team_id:
        team_id = None
    return enterprise_id or None, team_id


def _row_values(entity) -> dict:
    values = entity.to_dict_for_copying()
    values["enterprise_id"], values["team_id"] = workspace_ids(
        values.get("enterprise_id"), values.get("team_id"), values.get("is_enterprise_install")
    )
    return values


def _to_installation(row: models.Installation) -> Installation:
    return Installation(**{name: getattr(row, name) for name in _INSTALLATION_FIELDS})


def _to_bot(row: models.Bot) -> Bot:
    return Bot(**{name: getattr(row, name) for name in _BOT_ENTITY_FIELDS})


_INSTALLATION_FIELDS = [
    f.name for f in models.Installation._meta.concrete_fields if f.name not in ("id", "workspace", "client_id")
]
_BOT_ENTITY_FIELDS = [f.name for f in models.Bot._meta.concrete_fields if f.name not in ("id", "workspace", "client_id")]


class DjangoInstallationStore(InstallationStore):
    def __init__(self, client_id: str, logger: Optional[logging.Logger] = None):
        self.client_id = client_id
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def _scope(self, model, enterprise_id, team_id, is_enterprise_install=False):
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        return model.objects.filter(client_id=self.client_id, enterprise_id=enterprise_id, team_id=team_id)

    # --- writes ------------------------------------------------------------------------------

    def save(self, installation: Installation):
        values = _row_values(installation)
        with transaction.atomic():
            workspace = self._touch_workspace(installation)
            rows = self._scope(models.Installation, values["enterprise_id"], values["team_id"])
            row = rows.filter(installed_at=values["installed_at"]).select_for_update().first()
            if row is None:
                self._record_install(workspace, rows, installation)
                row = models.Installation(workspace=workspace, client_id=self.client_id)
            elif installation.user_token is None and row.user_token is not None:
                # Bolt's authorize nulls the user fields on the object it rotates when the requester
                # isn't the installer; that must not erase the installer's stored user token.
                for name in _USER_FIELDS:
                    values.pop(name)
            for name, value in values.items():
                setattr(row, name, value)
            row.save()
            self._save_bot(installation.to_bot(), workspace)

    def save_bot(self, bot: Bot):
        with transaction.atomic():
            self._save_bot(bot, self._touch_workspace(bot))

    def _save_bot(self, bot: Bot, workspace: models.Workspace):
        values = _row_values(bot)
        rows = self._scope(models.Bot, values["enterprise_id"], values["team_id"])
        row = rows.filter(installed_at=values["installed_at"]).first()
        if row is None:
            row = models.Bot(workspace=workspace, client_id=self.client_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.save()

    def _touch_workspace(self, entity) -> models.Workspace:
        enterprise_id, team_id = workspace_ids(entity.enterprise_id, entity.team_id, entity.is_enterprise_install)
        installed_at = datetime.fromtimestamp(entity.installed_at, tz=timezone.utc)
        workspace, _ = models.Workspace.objects.select_for_update().get_or_create(
            client_id=self.client_id, enterprise_id=enterprise_id or "", team_id=team_id or ""
        )
        workspace.enterprise_name = entity.enterprise_name or workspace.enterprise_name
        workspace.team_name = entity.team_name or workspace.team_name
        workspace.is_enterprise_install = bool(entity.is_enterprise_install)
        workspace.first_installed_at = min(filter(None, [workspace.first_installed_at, installed_at]))
        workspace.latest_installed_at = max(filter(None, [workspace.latest_installed_at, installed_at]))
        if workspace.latest_installed_at == installed_at:
            workspace.status, workspace.status_reason, workspace.uninstalled_at = models.Workspace.ACTIVE, "", None
        workspace.save()
        return workspace

    def _record_install(self, workspace, rows, installation: Installation):
        previous = rows.order_by("-installed_at").first()
        new_scopes = set(installation.bot_scopes or [])
        if previous is None:
            kind, detail = models.InstallationEvent.INSTALLED, f"scopes: {', '.join(sorted(new_scopes))}"
        else:
            kind, detail = models.InstallationEvent.REINSTALLED, ""
            old_scopes = set((previous.bot_scopes or "").split(",")) - {""}
            if old_scopes != new_scopes:
                kind = models.InstallationEvent.SCOPES_CHANGED
                added, removed = sorted(new_scopes - old_scopes), sorted(old_scopes - new_scopes)
                detail = f"added: {', '.join(added) or '-'}; removed: {', '.join(removed) or '-'}"
        if installation.user_scopes:
            detail += f"; user scopes: {', '.join(installation.user_scopes)}"
        models.InstallationEvent.objects.create(
            workspace=workspace, kind=kind, actor=installation.user_id or "", detail=detail
        )

    # --- reads -------------------------------------------------------------------------------

    def find_bot(self, *, enterprise_id, team_id, is_enterprise_install=False) -> Optional[Bot]:
        row = (
            self._scope(models.Bot, enterprise_id, team_id, is_enterprise_install)
            .filter(bot_token__isnull=False)
            .order_by("-installed_at")
            .first()
        )
        return _to_bot(row) if row else None

    def find_installation(
        self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False
    ) -> Optional[Installation]:
        rows = self._scope(models.Installation, enterprise_id, team_id, is_enterprise_install)
        if user_id is not None:
            rows = rows.filter(user_id=user_id)
        row = rows.order_by("-installed_at").first()
        if row is None:
            return None
        installation = _to_installation(row)
        if user_id is not None or installation.bot_token is None:
            # The user's own row may hold an old bot token (python-slack-sdk #1441, bolt-python #664).
            bot = self.find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
            if bot is not None and bot.bot_token != installation.bot_token:
                for name in _BOT_FIELDS:
                    setattr(installation, name, getattr(bot, name))
        return installation

    def find_authorization(self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False):
        """(latest installation of the workspace, the requesting user's own latest installation or None).

        What Bolt's authorize looks up per event, as one call so the cache can answer it in one go.
        """
        find = DjangoInstallationStore.find_installation
        ids = dict(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        latest = find(self, **ids)
        if latest is None or user_id is None:
            return latest, None
        return latest, latest if latest.user_id == user_id else find(self, user_id=user_id, **ids)

    # --- deletes -----------------------------------------------------------------------------

    def delete_bot(self, *, enterprise_id, team_id, installed_before=None) -> int:
        rows = self._scope(models.Bot, enterprise_id, team_id)
        if installed_before is not None:
            rows = rows.filter(installed_at__lt=installed_before)
        return rows.delete()[0]

    def delete_installation(self, *, enterprise_id, team_id, user_id=None, installed_before=None) -> int:
        rows = self._scope(models.Installation, enterprise_id, team_id)
        if user_id is not None:
            rows = rows.filter(user_id=user_id)
        if installed_before is not None:
            rows = rows.filter(installed_at__lt=installed_before)
        return rows.delete()[0]

    def revoke_tokens(self, *, enterprise_id, team_id, user_ids=(), bot=False, installed_before=None) -> int:
        """Forget revoked tokens (a `tokens_revoked` event); returns how many rows changed.

        Bolt's listener deletes the users' whole installation rows (taking the installer's copy of
        the bot token with them) and leaves the bot token in installation rows after `delete_bot`.
        Here user tokens are cleared, bot rows deleted, the bot token copies cleared, and rows left
        with no token at all deleted. `installed_before` spares installs newer than the event.
        """
        rows = self._scope(models.Installation, enterprise_id, team_id)
        if installed_before is not None:
            rows = rows.filter(installed_at__lt=installed_before)
        changed = 0
        with transaction.atomic():
            if user_ids:
                changed += rows.filter(user_id__in=user_ids).update(**dict.fromkeys(USER_TOKEN_FIELDS))
            if bot:
                # The base class's deletes: a cached subclass invalidates once, after the whole change.
                changed += DjangoInstallationStore.delete_bot(
                    self, enterprise_id=enterprise_id, team_id=team_id, installed_before=installed_before
                )
                changed += rows.update(**dict.fromkeys(BOT_TOKEN_FIELDS))
            rows.filter(bot_token__isnull=True, user_token__isnull=True).delete()
        return changed

    def delete_all(self, *, enterprise_id, team_id, installed_before=None) -> int:
        """Delete the workspace's bots and installations; mark the workspace uninstalled.

        `installed_before` (a datetime, exclusive) keeps installs newer than a late uninstall event (bolt-js #1558).
        """
        with transaction.atomic():
            # The base class's deletes: a cached subclass invalidates once, after the whole change.
            scope = dict(enterprise_id=enterprise_id, team_id=team_id, installed_before=installed_before)
            deleted = DjangoInstallationStore.delete_bot(self, **scope)
            deleted += DjangoInstallationStore.delete_installation(self, **scope)
            enterprise_id, team_id = workspace_ids(enterprise_id, team_id)
            remaining = self._scope(models.Installation, enterprise_id, team_id).exists()
            if not remaining:
                models.Workspace.objects.of(self.client_id, enterprise_id, team_id).update(
                    status=models.Workspace.UNINSTALLED, uninstalled_at=django_timezone.now()
                )
        return deleted


def redis_client():
    """The Redis client behind Django's cache (only when REDIS_URL is set)."""
    return caches[settings.INSTALLATION_CACHE_ALIAS]._cache.get_client(write=True)


def redis_key(*parts):
    """A raw Redis key under the cache's KEY_PREFIX (several deployments may share one Redis)."""
    prefix = settings.CACHES[settings.INSTALLATION_CACHE_ALIAS].get("KEY_PREFIX", "")
    return ":".join([prefix, *(part or "" for part in parts)])


class _StateStore(OAuthStateStore):
    def __init__(self, expiration_seconds: int, logger: Optional[logging.Logger] = None):
        self.expiration_seconds = expiration_seconds
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(32)
        self._keep(state)
        return state


class DjangoOAuthStateStore(_StateStore):
    """OAuth `state` values in the database: issued once, consumed at most once, before expiry."""

    def _keep(self, state):
        expire_at = django_timezone.now() + timedelta(seconds=self.expiration_seconds)
        models.OAuthState.objects.create(state=state, expire_at=expire_at)
        if secrets.randbelow(100) == 0:
            self.purge_expired()  # opportunistic: a cron job (purge_oauth_states) is not required

    def consume(self, state: str) -> bool:
        # One DELETE decides: of two concurrent consumes only one sees a deleted row.
        deleted, _ = models.OAuthState.objects.filter(state=state, expire_at__gt=django_timezone.now()).delete()
        return deleted > 0

    def purge_expired(self) -> int:
        return models.OAuthState.objects.filter(expire_at__lte=django_timezone.now()).delete()[0]


class RedisOAuthStateStore(_StateStore):
    """OAuth `state` values in Redis (used when REDIS_URL is set): key expiry, atomic GETDEL."""

    def _key(self, state: str) -> str:
        return redis_key("oauth-state", state)

    def _keep(self, state):
        redis_client().set(self._key(state), b"1", ex=self.expiration_seconds)

    def consume(self, state: str) -> bool:
        return redis_client().getdel(self._key(state)) is not None

    def purge_expired(self) -> int:
        return 0  # Redis expires keys itself


def build_oauth_state_store(logger=None) -> OAuthStateStore:
    store_class = RedisOAuthStateStore if settings.REDIS_URL else DjangoOAuthStateStore
    return store_class(expiration_seconds=settings.SLACK_STATE_EXPIRATION_SECONDS, logger=logger)
