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
from django.db import IntegrityError, transaction
from django.utils import timezone as django_timezone
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from installations import models
from installations.per_process import PerProcess
from installations.redis_cache import redis_client, redis_key

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
    """Every write ends in one call of `workspace_changed(enterprise_id, team_id)` (normalized ids),
    once the change is committed; a cache over this store overrides that hook and the reads."""

    def __init__(self, client_id: str, logger: Optional[logging.Logger] = None):
        self.client_id = client_id
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def workspace_changed(self, enterprise_id, team_id):
        """Called after every write to the workspace's rows, and by code that writes them directly
        (token rotation): what was read about the workspace before is out of date."""

    def _scope(self, model, enterprise_id, team_id, is_enterprise_install=False):
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        return model.objects.filter(client_id=self.client_id, enterprise_id=enterprise_id, team_id=team_id)

    # --- writes ------------------------------------------------------------------------------

    def save(self, installation: Installation):
        self._in_transaction(self._save, installation)
        self.workspace_changed(*workspace_ids(
            installation.enterprise_id, installation.team_id, installation.is_enterprise_install
        ))

    def save_bot(self, bot: Bot):
        self._in_transaction(lambda bot: self._save_bot(bot, *self._touch_workspace(bot)), bot)
        self.workspace_changed(*workspace_ids(bot.enterprise_id, bot.team_id, bot.is_enterprise_install))

    def _in_transaction(self, write, entity):
        try:
            with transaction.atomic():
                write(entity)
        except IntegrityError:
            # Two first installs of one workspace at once: the other one created its row, which
            # this transaction could not see; again, now that it exists.
            with transaction.atomic():
                write(entity)

    def _save(self, installation: Installation):
        values = _row_values(installation)
        workspace, new = self._touch_workspace(installation)
        row = latest = None
        if not new:  # a new workspace has no rows yet (they belong to it): nothing to look up
            rows = self._scope(models.Installation, values["enterprise_id"], values["team_id"])
            latest = rows.select_for_update().order_by("-installed_at").first()
            if latest is not None and latest.installed_at == values["installed_at"]:
                row = latest  # a re-save of the latest install (a token rotation)
            elif latest is not None and latest.installed_at > values["installed_at"]:
                row = rows.select_for_update().filter(installed_at=values["installed_at"]).first()
        if row is None:
            self._record_install(workspace, latest, installation)
            row = models.Installation(workspace=workspace, client_id=self.client_id)
        elif installation.user_token is None and row.user_token is not None:
            # Bolt's authorize nulls the user fields on the object it rotates when the requester
            # isn't the installer; that must not erase the installer's stored user token.
            for name in _USER_FIELDS:
                values.pop(name)
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        self._save_bot(installation.to_bot(), workspace, new)

    def _save_bot(self, bot: Bot, workspace: models.Workspace, new: bool):
        values = _row_values(bot)
        row = None
        if not new:
            rows = self._scope(models.Bot, values["enterprise_id"], values["team_id"])
            row = rows.filter(installed_at=values["installed_at"]).first()
        if row is None:
            row = models.Bot(workspace=workspace, client_id=self.client_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.save()

    def _touch_workspace(self, entity):
        """(the workspace's row, locked, brought up to date with `entity`; whether it is new)."""
        enterprise_id, team_id = workspace_ids(entity.enterprise_id, entity.team_id, entity.is_enterprise_install)
        installed_at = datetime.fromtimestamp(entity.installed_at, tz=timezone.utc)
        ids = dict(client_id=self.client_id, enterprise_id=enterprise_id or "", team_id=team_id or "")
        workspace = models.Workspace.objects.select_for_update().filter(**ids).first()
        if workspace is None:
            # A race with another first install ends on the unique constraint (see _in_transaction).
            workspace = models.Workspace.objects.create(
                **ids,
                enterprise_name=entity.enterprise_name or "",
                team_name=entity.team_name or "",
                is_enterprise_install=bool(entity.is_enterprise_install),
                first_installed_at=installed_at,
                latest_installed_at=installed_at,
            )
            return workspace, True
        workspace.enterprise_name = entity.enterprise_name or workspace.enterprise_name
        workspace.team_name = entity.team_name or workspace.team_name
        workspace.is_enterprise_install = bool(entity.is_enterprise_install)
        workspace.first_installed_at = min(filter(None, [workspace.first_installed_at, installed_at]))
        workspace.latest_installed_at = max(filter(None, [workspace.latest_installed_at, installed_at]))
        if workspace.latest_installed_at == installed_at:
            workspace.status, workspace.status_reason, workspace.uninstalled_at = models.Workspace.ACTIVE, "", None
        workspace.save()
        return workspace, False

    def _record_install(self, workspace, previous, installation: Installation):
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
        models.InstallationEvent.record(workspace, kind, actor=installation.user_id or "", detail=detail)

    # --- reads -------------------------------------------------------------------------------

    def find_bot(self, *, enterprise_id, team_id, is_enterprise_install=False) -> Optional[Bot]:
        return self._load_bot(*workspace_ids(enterprise_id, team_id, is_enterprise_install))

    def find_installation(
        self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False
    ) -> Optional[Installation]:
        return self._load_installation(*workspace_ids(enterprise_id, team_id, is_enterprise_install), user_id)

    def find_authorization(self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False):
        """(latest installation of the workspace, the requesting user's own latest installation or None).

        What Bolt's authorize looks up per event, as one call so the cache can answer it in one go.
        """
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        latest = self._load_installation(enterprise_id, team_id)
        if latest is None or user_id is None:
            return latest, None
        return latest, latest if latest.user_id == user_id else self._load_installation(enterprise_id, team_id, user_id)

    def _load_bot(self, enterprise_id, team_id) -> Optional[Bot]:
        row = (
            self._scope(models.Bot, enterprise_id, team_id)
            .filter(bot_token__isnull=False)
            .order_by("-installed_at")
            .first()
        )
        return _to_bot(row) if row else None

    def _load_installation(self, enterprise_id, team_id, user_id=None) -> Optional[Installation]:
        rows = self._scope(models.Installation, enterprise_id, team_id)
        if user_id is not None:
            rows = rows.filter(user_id=user_id)
        row = rows.order_by("-installed_at").first()
        if row is None:
            return None
        installation = _to_installation(row)
        if user_id is not None or installation.bot_token is None:
            # The user's own row may hold an old bot token (python-slack-sdk #1441, bolt-python #664).
            bot = self._load_bot(enterprise_id, team_id)
            if bot is not None and bot.bot_token != installation.bot_token:
                for name in _BOT_FIELDS:
                    setattr(installation, name, getattr(bot, name))
        return installation

    # --- deletes -----------------------------------------------------------------------------

    def delete_bot(self, *, enterprise_id, team_id, installed_before=None) -> int:
        deleted = self._delete(models.Bot, enterprise_id, team_id, installed_before)
        self.workspace_changed(*workspace_ids(enterprise_id, team_id))
        return deleted

    def delete_installation(self, *, enterprise_id, team_id, user_id=None, installed_before=None) -> int:
        deleted = self._delete(models.Installation, enterprise_id, team_id, installed_before, user_id)
        self.workspace_changed(*workspace_ids(enterprise_id, team_id))
        return deleted

    def _delete(self, model, enterprise_id, team_id, installed_before=None, user_id=None) -> int:
        rows = self._scope(model, enterprise_id, team_id)
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
                changed += self._delete(models.Bot, enterprise_id, team_id, installed_before)
                changed += rows.update(**dict.fromkeys(BOT_TOKEN_FIELDS))
            rows.filter(bot_token__isnull=True, user_token__isnull=True).delete()
        self.workspace_changed(*workspace_ids(enterprise_id, team_id))
        return changed

    def delete_all(self, *, enterprise_id, team_id, installed_before=None) -> int:
        """Delete the workspace's bots and installations; mark the workspace uninstalled.

        `installed_before` (a datetime, exclusive) keeps installs newer than a late uninstall event (bolt-js #1558).
        """
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id)
        with transaction.atomic():
            deleted = self._delete(models.Bot, enterprise_id, team_id, installed_before)
            deleted += self._delete(models.Installation, enterprise_id, team_id, installed_before)
            remaining = self._scope(models.Installation, enterprise_id, team_id).exists()
            if not remaining:
                models.Workspace.objects.of(self.client_id, enterprise_id, team_id).update(
                    status=models.Workspace.UNINSTALLED, uninstalled_at=django_timezone.now()
                )
        self.workspace_changed(enterprise_id, team_id)
        return deleted


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


_CONSUMED = datetime(2000, 1, 1, tzinfo=timezone.utc)


class DjangoOAuthStateStore(_StateStore):
    """OAuth `state` values in the database: issued once, consumed at most once, before expiry."""

    def _keep(self, state):
        expire_at = django_timezone.now() + timedelta(seconds=self.expiration_seconds)
        models.OAuthState.objects.create(state=state, expire_at=expire_at)
        if secrets.randbelow(100) == 0:
            self.purge_expired()  # opportunistic: a cron job (purge_oauth_states) is not required

    def consume(self, state: str) -> bool:
        # One UPDATE decides: of two concurrent consumes only one still sees the state unexpired.
        # It expires the row (to a time before any consume's "now") rather than deleting it: a
        # DELETE is three statements in Django (it opens a transaction). Expired rows are purged.
        unexpired = models.OAuthState.objects.filter(state=state, expire_at__gt=django_timezone.now())
        return unexpired.update(expire_at=_CONSUMED) > 0

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


# --- the process's stores ------------------------------------------------------------------------

def _build_installation_store():
    from installations.cache import CacheableInstallationStore  # it subclasses this module's store

    return CacheableInstallationStore(client_id=settings.SLACK_CLIENT_ID)


def _build_oauth_state_store():
    store_class = RedisOAuthStateStore if settings.REDIS_URL else DjangoOAuthStateStore
    return store_class(expiration_seconds=settings.SLACK_STATE_EXPIRATION_SECONDS)


_STORE_SETTINGS = ("SLACK_", "TOKEN_", "INSTALLATION_", "CACHES", "REDIS_")
_installation_store = PerProcess(_build_installation_store, _STORE_SETTINGS)
_oauth_state_store = PerProcess(_build_oauth_state_store, _STORE_SETTINGS)


def installation_store():
    """The process's installation store (a `installations.cache.CacheableInstallationStore`), built
    on first use and again after a setting it depends on changed, like `caches[...]`."""
    return _installation_store()


def oauth_state_store() -> OAuthStateStore:
    """The process's OAuth state store: in Redis with REDIS_URL, else in the database."""
    return _oauth_state_store()
