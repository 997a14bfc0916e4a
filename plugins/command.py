"""`Command` (Slack Machine's `machine.plugins.command.Command`): a slash command, already
acknowledged; `say` answers through its `response_url`, visible to its sender only by default."""

from plugins import context
from plugins.awaitable import awaitable
from plugins.models.channel import Channel
from plugins.models.user import User


class Command:
    def __init__(self, workspace: context.WorkspaceContext, payload: dict):
        self._workspace = workspace
        self._payload = payload

    @property
    def sender(self) -> User:
        return self._workspace.user(self._payload["user_id"]) or User(id=self._payload["user_id"], name=self._payload.get("user_name", ""))

    @property
    def channel(self) -> Channel:
        return self._workspace.channel(self._payload["channel_id"])

    @property
    def is_dm(self) -> bool:
        return self._payload.get("channel_name") == "directmessage" or self._payload["channel_id"].startswith("D")

    @property
    def text(self) -> str:
        return self._payload.get("text") or ""

    @property
    def command(self) -> str:
        return self._payload["command"]

    @property
    def response_url(self) -> str:
        return self._payload.get("response_url", "")

    @property
    def trigger_id(self) -> str:
        return self._payload.get("trigger_id", "")

    @property
    def at_sender(self) -> str:
        return f"<@{self._payload['user_id']}>"

    @awaitable
    def say(self, text=None, attachments=None, blocks=None, ephemeral=True, **kwargs):
        return self._workspace.respond(
            self.response_url, text=text, attachments=attachments, blocks=blocks,
            response_type="ephemeral" if ephemeral else "in_channel", **kwargs,
        )

    def __repr__(self):
        return f"Command(command={self.command!r}, text={self.text!r}, sender={self._payload.get('user_id')!r})"
