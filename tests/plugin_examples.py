"""Plugins the tests load (PLUGINS=tests.plugin_examples): one of each kind of handler, plain and async."""

import re

from plugins.base import MachineBasePlugin
from plugins.decorators import (
    action, command, listen_to, on, process, require_all_roles, require_any_role, required_settings, respond_to,
    schedule,
)


class AsyncPlugin(MachineBasePlugin):
    """Async handlers, as Slack Machine writes them"""

    @listen_to(r"^weather in (?P<city>\w+)$")
    async def weather(self, msg, city):
        await msg.say(f"async: sunny in {city}")

    @respond_to(r"^echo (?P<words>.+)$")
    async def echo(self, msg, words):
        await msg.reply(words, in_thread=True)

    @command("/count")
    async def count(self, cmd):
        seen = (await self.storage.get("count")) or 0
        await self.storage.set("count", seen + 1)
        await cmd.say(f"count is {seen + 1}")

    @action(action_id=re.compile(r"^vote-"), block_id="poll")
    async def vote(self, action):
        await action.say(f"you voted {action.triggered_action['value']}", replace_original=True)

    @process("reaction_added")
    async def reacted(self, event):
        await self.say(event["item"]["channel"], f"nice {event['reaction']}")

    @respond_to(r"^vault$")
    @require_any_role(["spy"])
    async def vault(self, msg):
        await msg.say("the vault is open")

    @respond_to(r"^calc (?P<a>\d+)\+(?P<b>\d+)$", handle_message_changed=True)
    async def calc(self, msg, a, b):
        await msg.say(f"calc: {int(a) + int(b)}")

    @respond_to(r"^announce (?P<what>.+)$")
    async def announce(self, msg, what):
        self.emit("announced", what=what, channel=msg.channel.id)

    @schedule(minute="*/5")
    async def tick(self):
        await self.storage.set("ticks", ((await self.storage.get("ticks")) or 0) + 1)
        await self.say("C0ACMEGEN1", "tick")


class PlainPlugin(MachineBasePlugin):
    """Plain handlers, without await"""

    @listen_to(r"^plain (?P<word>\w+)$")
    def plain(self, msg, word):
        msg.say(f"plain: {word}")
        msg.react("thumbsup")

    @on("announced")
    def heard(self, what, channel):
        self.say(channel, f"heard: {what}")

    @respond_to(r"^secret$")
    @require_any_role(["spy", "admin"])
    def secret(self, msg):
        msg.say("the secret is 42")

    @respond_to(r"^topsecret$")
    @require_all_roles(["spy", "chief"])
    def topsecret(self, msg):
        msg.say("the top secret is 43")

    @on("unauthorized-access")
    def denied(self, message, required_roles, combinator):  # Slack Machine's arguments
        self.storage.set("denied", {"user": message.sender.id, "roles": required_roles, "any": combinator.value},
                         shared=True)


class FailingPlugin(MachineBasePlugin):
    """Raises on every message"""

    @listen_to(r"")
    def explode(self, msg):
        raise RuntimeError("plugin bug")


@required_settings("SETTING_NOBODY_SET")
class NeedsSettingPlugin(MachineBasePlugin):
    @listen_to(r"^needs$")
    def needs(self, msg):
        msg.say("should not be loaded")


class NeedsScopePlugin(MachineBasePlugin):
    """Reacts to everything"""

    scopes = ["reactions:write"]

    @listen_to(r"^react please$")
    def react_please(self, msg):
        msg.react("tada")


class DatabasePlugin(MachineBasePlugin):
    """Uses the database from a handler (tests/test_events.py: the handler thread releases it)"""

    seen = {}

    @process("reaction_added")
    def count_workspaces(self, event):
        from django.db import connections

        from installations.models import Workspace

        self.seen["wrapper"] = connections["default"]
        self.seen["workspaces"] = Workspace.objects.count()
