"""`Message` (Slack Machine's `machine.plugins.message.Message`): a message the bot received, with
helpers that answer in the right place. Every helper can be awaited or called plainly."""

from plugins import context
from plugins.awaitable import awaitable
from plugins.models.channel import Channel
from plugins.models.user import User


class Message:
    def __init__(self, workspace: context.WorkspaceContext, event: dict, text: str | None = None):
        self._workspace = workspace
        self._event = event
        self._text = event.get("text") or "" if text is None else text

    @property
    def sender(self) -> User:
        return self._workspace.user(self._event["user"]) or User(id=self._event["user"])

    @property
    def channel(self) -> Channel:
        return self._workspace.channel(self._event["channel"], self._event.get("channel_type"))

    @property
    def is_dm(self) -> bool:
        return self._event.get("channel_type") in ("im", "mpim") or self._event["channel"].startswith("D")

    @property
    def text(self) -> str:
        """The text; for `respond_to`, without the leading mention of the bot."""
        return self._text

    @property
    def at_sender(self) -> str:
        return f"<@{self._event['user']}>"

    @property
    def ts(self) -> str:
        return self._event["ts"]

    @property
    def thread_ts(self) -> str | None:
        return self._event.get("thread_ts")

    @property
    def in_thread(self) -> bool:
        return "thread_ts" in self._event

    @awaitable
    def say(self, text=None, attachments=None, blocks=None, thread_ts=None, ephemeral=False, **kwargs):
        ephemeral_user = self._event["user"] if ephemeral else None
        return self._workspace.send(self._event["channel"], text, attachments, blocks, thread_ts, ephemeral_user, **kwargs)

    @awaitable
    def say_scheduled(self, when, text, attachments=None, blocks=None, thread_ts=None, **kwargs):
        return self._workspace.send_scheduled(when, self._event["channel"], text, attachments, blocks, thread_ts, **kwargs)

    def _reply_text(self, text):
        return f"{self.at_sender}: {text}" if text is not None and not self.is_dm else text

    @awaitable
    def reply(self, text=None, attachments=None, blocks=None, in_thread=False, ephemeral=False, **kwargs):
        """Answer the sender: mentioning them in the channel, in the message's thread (`in_thread`),
        or visible to them only (`ephemeral`, which wins over `in_thread`)."""
        if in_thread and not ephemeral:
            return self._workspace.send(self._event["channel"], text, attachments, blocks, self.thread_ts or self.ts, **kwargs)
        ephemeral_user = self._event["user"] if ephemeral else None
        return self._workspace.send(
            self._event["channel"], self._reply_text(text), attachments, blocks, None, ephemeral_user, **kwargs
        )

    @awaitable
    def reply_scheduled(self, when, text, attachments=None, blocks=None, in_thread=False, **kwargs):
        if in_thread:
            return self._workspace.send_scheduled(
                when, self._event["channel"], text, attachments, blocks, self.thread_ts or self.ts, **kwargs
            )
        return self._workspace.send_scheduled(when, self._event["channel"], self._reply_text(text), attachments, blocks, **kwargs)

    @awaitable
    def reply_dm(self, text=None, attachments=None, blocks=None, **kwargs):
        return self._workspace.send_dm(self._event["user"], text, attachments, blocks, **kwargs)

    @awaitable
    def reply_dm_scheduled(self, when, text, attachments=None, blocks=None, **kwargs):
        return self._workspace.send_dm_scheduled(when, self._event["user"], text, attachments, blocks, **kwargs)

    @awaitable
    def react(self, emoji):
        return self._workspace.react(self._event["channel"], self.ts, emoji)

    @awaitable
    def pin_message(self):
        return self._workspace.pin_message(self._event["channel"], self.ts)

    def __str__(self):
        sender = self.sender
        where = "in DM" if self.is_dm else f"in channel #{self.channel.identifier}"
        return f"Message '{self.text}', sent by user @{sender.profile.real_name or sender.name or sender.id} {where}"

    def __repr__(self):
        return f"Message(text={self.text!r}, sender={self._event.get('user')!r}, channel={self._event.get('channel')!r})"
