"""`notes`: the storage example of Slack Machine's documentation."""

from plugins.base import MachineBasePlugin
from plugins.decorators import respond_to


class NotesPlugin(MachineBasePlugin):
    """Notes kept for this workspace"""

    @respond_to(r"^store (?P<text>.*) under (?P<key>\w+)$")
    async def store(self, msg, text, key):
        """store <text> under <key>: keep a note"""
        await self.storage.set(key, text)
        await msg.say(f"'{text}' stored under {key}!")

    @respond_to(r"^retrieve (?P<key>\w+)$")
    async def retrieve(self, msg, key):
        """retrieve <key>: read a note back"""
        data = await self.storage.get(key)
        if data:
            await msg.say(f"'{data}' retrieved from <{key}>!")
        else:
            await msg.say("Key not found!")

    @respond_to(r"^delete (?P<key>\w+)$")
    async def delete_note(self, msg, key):
        """delete <key>: forget a note"""
        await self.storage.delete(key)
        await msg.say(f"data in <{key}> deleted!")

    @respond_to(r"^does (?P<key>\w+) exist\??$")
    async def exists(self, msg, key):
        """does <key> exist?: is there such a note"""
        if await self.storage.has(key):
            await msg.say(f"<{key}> exists.")
        else:
            await msg.say(f"<{key}> does not exist!")

    @respond_to(r"^size$")
    async def size(self, msg):
        """size: how much this workspace stores"""
        human_size = await self.storage.get_storage_size_human()
        await msg.say(f"storage size: {human_size}")
