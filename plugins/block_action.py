"""`BlockAction` (Slack Machine's `machine.plugins.block_action.BlockAction`): a click on a button or a
choice in a select, already acknowledged; `say` answers through the interaction's `response_url`."""

from plugins import context
from plugins.awaitable import awaitable
from plugins.models.channel import Channel
from plugins.models.user import User


class Fields(dict):
    """Slack's JSON with attribute access too: `action.triggered_action.value` (Slack Machine's pydantic
    models) and `action.triggered_action["value"]` both work; a missing field reads as None."""

    def __getattr__(self, name):
        value = self.get(name)
        if isinstance(value, dict):
            return Fields(value)
        if isinstance(value, list):
            return [Fields(item) if isinstance(item, dict) else item for item in value]
        return value


class BlockAction:
    def __init__(self, workspace: context.WorkspaceContext, payload: dict, triggered_action: dict):
        self._workspace = workspace
        self.payload = Fields(payload)
        self.triggered_action = Fields(triggered_action)

    @property
    def user(self) -> User:
        user = self.payload["user"]
        return self._workspace.user(user["id"]) or User(id=user["id"], name=user.get("username", ""))

    sender = user  # what role checks and `unauthorized-access` read, as on Message and Command

    @property
    def channel(self) -> Channel | None:
        channel = self.payload.get("channel")
        return self._workspace.channel(channel["id"]) if channel else None

    @property
    def state(self) -> dict | None:
        return self.payload.state

    @property
    def response_url(self) -> str | None:
        return self.payload.get("response_url")

    @property
    def trigger_id(self) -> str:
        return self.payload.get("trigger_id", "")

    @property
    def text(self) -> str:
        return str(self.triggered_action.get("value") or "")

    @property
    def at_sender(self) -> str:
        return f"<@{self.payload['user']['id']}>"

    @awaitable
    def say(self, text=None, attachments=None, blocks=None, ephemeral=True, replace_original=False,
            delete_original=False, **kwargs):
        """Answer in the channel of the action: a new message visible to the person (`ephemeral`), to
        everyone, in place of the original (`replace_original`), or remove it (`delete_original`)."""
        return self._workspace.respond(
            self.response_url, text=text, attachments=attachments, blocks=blocks,
            response_type="ephemeral" if ephemeral else "in_channel",
            replace_original=replace_original, delete_original=delete_original or None, **kwargs,
        )
