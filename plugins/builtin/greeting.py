"""The app's greeting: say hi when mentioned, and `/hello`."""

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
        """/hello: a hello only you can see"""
        await self.say(command.channel.id, f"Hello, {command.at_sender}! :wave:", ephemeral_user=command.sender.id)
