"""The workspace a plugin acts in: what an event's helpers, storage and lookups are bound to.

A plugin instance serves every workspace, so "this workspace" cannot live on the plugin: the
dispatcher binds a `WorkspaceContext` to the running handler (a context variable) and every helper
(`say`, `react`, `self.storage`, `self.users`, ...) reads it. It is built from the installation store
(no SQL, no Slack call when warm) and holds that workspace's bot token only.
"""

import contextlib
import contextvars
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.conf import settings
from django.core.cache import caches
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from installations.slack_api import web_client
from installations.stores import workspace_ids
from plugins.models.channel import Channel
from plugins.models.user import User

logger = logging.getLogger("slackhub.plugins")
_current: contextvars.ContextVar["WorkspaceContext"] = contextvars.ContextVar("slackhub_plugin_workspace")
LOOKUP_TTL = 600  # seconds a workspace's people and channels are cached (shared by every process)


class NoWorkspace(RuntimeError):
    pass


def current() -> "WorkspaceContext":
    try:
        return _current.get()
    except LookupError:
        raise NoWorkspace(
            "No workspace here: helpers and storage act in the workspace of the event (or scheduled run) "
            "being handled, so use them inside a handler, not in init() or at import."
        ) from None


@contextlib.contextmanager
def bound(workspace: "WorkspaceContext"):
    token = _current.set(workspace)
    try:
        yield workspace
    finally:
        _current.reset(token)


def storage_key(enterprise_id, team_id, is_enterprise_install=False) -> str:
    """One string per installation: org-wide installs share their org's key."""
    enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
    return f"{enterprise_id or '-'}:{team_id or '-'}"


@dataclass
class WorkspaceContext:
    """One installed workspace (or org) as its plugins see it, with Slack Machine's client calls."""

    enterprise_id: str | None
    team_id: str | None
    is_enterprise_install: bool
    bot_token: str
    bot_user_id: str | None
    bot_id: str | None
    bot_scopes: list = field(default_factory=list)
    installer_user_id: str | None = None
    team_name: str | None = None
    installed_at: object = None  # of the installation these credentials come from
    plugin: str = ""  # the plugin whose handler runs now, for logs and scope bookkeeping

    @property
    def storage_key(self) -> str:
        return storage_key(self.enterprise_id, self.team_id, self.is_enterprise_install)

    @cached_property
    def client(self):
        return web_client(self.bot_token)

    def ids(self) -> dict:
        return {"enterprise_id": self.enterprise_id, "team_id": self.team_id, "is_enterprise_install": self.is_enterprise_install}

    # --- Web API calls, each recording a missing scope ---------------------------------------

    def call(self, method: str, **arguments):
        """`WebClient.<method>(**arguments)`; a `missing_scope` refusal is logged once per workspace
        and scope and recorded for the admin, then raised for the dispatcher to explain."""
        try:
            return getattr(self.client, method)(**arguments)
        except SlackApiError as error:
            if error.response.get("error") == "missing_scope":
                from plugins import scopes  # scopes records with the ORM; imported when needed

                scopes.refused(self, error.response.get("needed") or "")
            raise

    def send(self, channel, text=None, attachments=None, blocks=None, thread_ts=None, ephemeral_user=None, **kwargs):
        channel_id = _id(channel)
        if ephemeral_user:
            return self.call(
                "chat_postEphemeral", channel=channel_id, user=_id(ephemeral_user), text=text,
                attachments=attachments, blocks=blocks, **kwargs,
            )
        return self.call(
            "chat_postMessage", channel=channel_id, text=text, attachments=attachments, blocks=blocks,
            thread_ts=thread_ts, **kwargs,
        )

    def send_scheduled(self, when: datetime, channel, text, attachments=None, blocks=None, thread_ts=None, **kwargs):
        return self.call(
            "chat_scheduleMessage", channel=_id(channel), text=text, post_at=int(when.timestamp()),
            attachments=attachments, blocks=blocks, thread_ts=thread_ts, **kwargs,
        )

    def update(self, channel, ts, text=None, attachments=None, blocks=None, ephemeral_user=None, **kwargs):
        if ephemeral_user:  # Slack cannot edit an ephemeral message; a new one replaces it for the person
            return self.send(channel, text=text, attachments=attachments, blocks=blocks, ephemeral_user=ephemeral_user, **kwargs)
        return self.call("chat_update", channel=_id(channel), ts=ts, text=text, attachments=attachments, blocks=blocks, **kwargs)

    def delete(self, channel, ts, **kwargs):
        return self.call("chat_delete", channel=_id(channel), ts=ts, **kwargs)

    def react(self, channel, ts, emoji):
        return self.call("reactions_add", channel=_id(channel), timestamp=ts, name=emoji.strip(":"))

    def open_im(self, user) -> str:
        return self.call("conversations_open", users=_id(user))["channel"]["id"]

    def send_dm(self, user, text=None, attachments=None, blocks=None, **kwargs):
        return self.send(self.open_im(user), text=text, attachments=attachments, blocks=blocks, **kwargs)

    def send_dm_scheduled(self, when, user, text, attachments=None, blocks=None, **kwargs):
        return self.send_scheduled(when, self.open_im(user), text, attachments=attachments, blocks=blocks, **kwargs)

    def pin_message(self, channel, ts):
        return self.call("pins_add", channel=_id(channel), timestamp=ts)

    def unpin_message(self, channel, ts):
        return self.call("pins_remove", channel=_id(channel), timestamp=ts)

    def set_topic(self, channel, topic, **kwargs):
        return self.call("conversations_setTopic", channel=_id(channel), topic=topic, **kwargs)

    def respond(self, response_url, **body):
        """POST to an interaction's `response_url` (commands and block actions)."""
        if not response_url:
            logger.warning("plugin %s: no response_url to answer with (a modal?)", self.plugin)
            return None
        return WebhookClient(response_url, timeout=10).send_dict({k: v for k, v in body.items() if v is not None})

    # --- People and channels, cached per workspace ------------------------------------------

    def _cached(self, kind, fetch):
        cache = caches[settings.INSTALLATION_CACHE_ALIAS]
        key = f"plugins:{kind}:{self.storage_key}"
        try:
            found = cache.get(key)
        except Exception:  # a cache outage costs a Slack call, not the handler
            found = None
        if found is None:
            found = fetch()
            with contextlib.suppress(Exception):
                cache.set(key, found, LOOKUP_TTL)
        return found

    def _paginated(self, method, key, **arguments):
        items, cursor = [], None
        while True:
            page = self.call(method, limit=200, cursor=cursor, **arguments)
            items.extend(page.get(key) or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return items

    @cached_property
    def users(self) -> dict[str, User]:
        raw = self._cached("users", lambda: self._listed("users_list", "members"))
        return {data["id"]: User.from_api_response(data) for data in raw}

    @cached_property
    def channels(self) -> dict[str, Channel]:
        raw = self._cached(
            "channels", lambda: self._listed("conversations_list", "channels", types="public_channel,private_channel")
        )
        return {data["id"]: Channel.from_api_response(data) for data in raw}

    def _listed(self, method, key, **arguments):
        """A whole list; empty when Slack refuses it (a missing scope is recorded by `call`), so that
        a handler reading `msg.sender` or `msg.channel` still runs."""
        try:
            return self._paginated(method, key, **arguments)
        except SlackApiError as error:
            logger.warning("%s refused in workspace %s (%s)", method, self.team_id, error.response.get("error"))
            return []

    def user(self, user_id) -> User | None:
        """One person: from the cached list, else `users.info` (someone who joined since)."""
        found = self.users.get(user_id)
        if found is None:
            try:
                found = User.from_api_response(self.call("users_info", user=user_id)["user"])
            except SlackApiError:
                return None
            self.users[user_id] = found
        return found

    def channel(self, channel_id, channel_type=None) -> Channel:
        found = self.channels.get(channel_id) if channel_type not in ("im", "mpim") else None
        return found or Channel(id=channel_id, is_im=channel_type == "im", is_mpim=channel_type == "mpim")


def _id(thing) -> str:
    return thing if isinstance(thing, str) else thing.id


def workspace_ids_of(workspace: WorkspaceContext) -> tuple:
    """(enterprise_id, team_id) of the installation, as `Workspace.objects.of` takes them."""
    return workspace_ids(workspace.enterprise_id, workspace.team_id, workspace.is_enterprise_install)


def for_workspace(workspace: dict) -> WorkspaceContext | None:
    """The context of an installed workspace from its ids (`enterprise_id`, `team_id`,
    `is_enterprise_install`), with fresh bot credentials; None when it has no usable bot token."""
    from installations.slack_api import bot_credentials

    found = bot_credentials(
        enterprise_id=workspace.get("enterprise_id"), team_id=workspace.get("team_id"),
        is_enterprise_install=bool(workspace.get("is_enterprise_install")),
    )
    if found is None:
        return None
    return WorkspaceContext(
        enterprise_id=workspace.get("enterprise_id") or found.enterprise_id,
        team_id=workspace.get("team_id") or found.team_id,
        is_enterprise_install=bool(workspace.get("is_enterprise_install")),
        bot_token=found.bot_token,
        bot_user_id=found.bot_user_id,
        bot_id=found.bot_id,
        bot_scopes=_scope_list(found.bot_scopes),
        installer_user_id=getattr(found, "user_id", None) or getattr(found, "installed_by_user_id", None),
        team_name=found.team_name,
        installed_at=getattr(found, "installed_at", None),
    )


def _scope_list(scopes) -> list:
    if isinstance(scopes, str):
        return [scope for scope in scopes.split(",") if scope]
    return list(scopes or [])
