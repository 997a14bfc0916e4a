"""The app's greeting: say hi when mentioned, and `/hello`."""

from plugins import context, scopes
from plugins.base import MachineBasePlugin
from plugins.decorators import command, on, respond_to


class GreetingPlugin(MachineBasePlugin):
    """Greets people who mention the app, and answers `/hello`."""

    @respond_to(r"^\W*(?:hi|hello|hey|yo)?\W*$")
    async def greet(self, msg):
        """@app hi: the app says hi back"""
        await msg.say(f"Hi {msg.at_sender}! I'm here. Try `/hello` too.", thread_ts=msg.thread_ts)

    @on("unhandled-mention")
    async def greet_anyway(self, message):
        """Whatever else someone tells the app: a greeting, and where to learn more."""
        await message.say(
            f"Hi {message.at_sender}! I'm here. Say `help` to see what I can do, or try `/hello`.",
            thread_ts=message.thread_ts,
        )

    @command("/hello")
    async def hello(self, command):
        """/hello: a hello only you can see (and whether the app needs a reinstall here)"""
        text = f"Hello, {command.at_sender}! :wave:"
        lacking = scopes.lacking(context.current(), scopes.requested())
        if lacking:
            text += (f"\nThis workspace's installation lacks {', '.join(f'`{s}`' for s in lacking)}, so some of what "
                     f"I do is off here. An admin can reinstall the app to grant it: {scopes.reinstall_url()}")
        await self.say(command.channel.id, text, ephemeral_user=command.sender.id)
