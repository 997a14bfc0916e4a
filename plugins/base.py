"""`MachineBasePlugin` (Slack Machine's `machine.plugins.base.MachineBasePlugin`).

One instance per plugin class serves every installed workspace; each helper acts in the workspace of
the event (or scheduled run) being handled. Every helper can be awaited (Slack Machine's async
handlers) or called plainly (`def` handlers).
"""

from django.conf import settings as django_settings

from plugins import context
from plugins.awaitable import awaitable
from plugins.message import Message  # noqa: F401 (Slack Machine's plugins import it from here)
from plugins.models.channel import Channel
from plugins.models.user import User
from plugins.storage import PluginStorage


# What no plugin needs: the service's own secrets (plugins are trusted code, but one that logs its
# settings, or a template that renders them, should not leak these).
WITHHELD = {
    "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET", "DATABASES", "CACHES",
    "REDIS_URL", "BROKER_URL", "DRAMATIQ_BROKER", "METRICS_TOKEN", "HEALTH_TOKEN", "SECRET_KEY_FALLBACKS",
}


class Settings:
    """Django settings read like Slack Machine's case-insensitive settings dict (read-only), less the
    service's secrets (`WITHHELD`)."""

    def __getitem__(self, name):
        key = name.upper()
        if key in WITHHELD or not hasattr(django_settings, key):
            raise KeyError(name)
        return getattr(django_settings, key)

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name):
        return name.upper() not in WITHHELD and hasattr(django_settings, name.upper())


class AwaitableClient:
    """A WebClient whose API methods (`chat_postMessage`, `api_call`, ...) can be awaited or called."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        found = getattr(self._client, name)
        return awaitable(found) if callable(found) and not name.startswith("_") else found


class MachineBasePlugin:
    """Subclass this; decorate methods with `plugins.decorators`; list the class or its module in
    `PLUGINS`. Declare the bot scopes your methods need in `scopes` (requested at install; a
    workspace lacking one skips this plugin there until it reinstalls)."""

    scopes: list[str] = []

    def __init__(self, settings=None, storage=None):
        self.settings = settings or Settings()
        self.storage = storage or PluginStorage(f"{type(self).__module__}.{type(self).__qualname__}")

    def init(self) -> None:
        """Called once per plugin at start-up (may be `async def`). There is no workspace here: use
        storage and helpers in handlers."""

    # --- the workspace ---------------------------------------------------------------------

    @property
    def web_client(self):
        """Slack's `WebClient` with this workspace's bot token. In an `async def` handler its methods are
        awaited, as Slack Machine's `AsyncWebClient`'s are; in a plain one they are called plainly."""
        return AwaitableClient(context.current().client)

    @property
    def users(self) -> dict[str, User]:
        return context.current().users

    @property
    def users_by_email(self) -> dict[str, User]:
        return {user.email: user for user in self.users.values() if user.email}

    @property
    def channels(self) -> dict[str, Channel]:
        return context.current().channels

    @property
    def bot_info(self) -> dict:
        here = context.current()
        return {"id": here.bot_id, "user_id": here.bot_user_id, "team_id": here.team_id, "name": django_settings.SLACK_APP_NAME}

    def find_channel_by_name(self, channel_name: str) -> Channel | None:
        """A channel (not a DM) by name, with or without `#`, in any case (as Slack Machine)."""
        name = channel_name.lstrip("#").lower()
        return next((channel for channel in self.channels.values() if channel.name_normalized == name), None)

    def get_user_by_id(self, user_id: str) -> User | None:
        return context.current().user(user_id)

    def get_user_by_email(self, email: str) -> User | None:
        return self.users_by_email.get(email)

    @staticmethod
    def at(user: User | str) -> str:
        return f"<@{user if isinstance(user, str) else user.id}>"

    # --- sending ----------------------------------------------------------------------------

    @awaitable
    def say(self, channel, text=None, attachments=None, blocks=None, thread_ts=None, ephemeral_user=None, **kwargs):
        return context.current().send(channel, text, attachments, blocks, thread_ts, ephemeral_user, **kwargs)

    @awaitable
    def say_scheduled(self, when, channel, text, attachments=None, blocks=None, thread_ts=None, **kwargs):
        return context.current().send_scheduled(when, channel, text, attachments, blocks, thread_ts, **kwargs)

    @awaitable
    def update(self, channel, ts, text=None, attachments=None, blocks=None, ephemeral_user=None, **kwargs):
        return context.current().update(channel, ts, text, attachments, blocks, ephemeral_user, **kwargs)

    @awaitable
    def delete(self, channel, ts, **kwargs):
        return context.current().delete(channel, ts, **kwargs)

    @awaitable
    def react(self, channel, ts, emoji):
        return context.current().react(channel, ts, emoji)

    @awaitable
    def send_dm(self, user, text=None, attachments=None, blocks=None, **kwargs):
        return context.current().send_dm(user, text, attachments, blocks, **kwargs)

    @awaitable
    def send_dm_scheduled(self, when, user, text, attachments=None, blocks=None, **kwargs):
        return context.current().send_dm_scheduled(when, user, text, attachments, blocks, **kwargs)

    @awaitable
    def pin_message(self, channel, ts):
        return context.current().pin_message(channel, ts)

    @awaitable
    def unpin_message(self, channel, ts):
        return context.current().unpin_message(channel, ts)

    @awaitable
    def set_topic(self, channel, topic, **kwargs):
        return context.current().set_topic(channel, topic, **kwargs)

    def emit(self, event: str, **kwargs) -> None:
        """Call every `@on(event)` method of every plugin, in this workspace, with `kwargs`."""
        from plugins.dispatch import emit  # the dispatcher loads plugin modules, which import this one

        emit(event, **kwargs)
