"""Slack Machine's `general` plugins: ping/pong and hello."""

from plugins.base import MachineBasePlugin
from plugins.decorators import listen_to


class PingPongPlugin(MachineBasePlugin):
    """Playing ping-pong"""

    scopes = ["channels:history", "im:history"]

    @listen_to(r"^ping$")
    async def listen_to_ping(self, msg):
        """ping: serving the ball"""
        await msg.say("pong")

    @listen_to(r"^pong$")
    async def listen_to_pong(self, msg):
        """pong: returning the ball"""
        await msg.say("ping")


class HelloPlugin(MachineBasePlugin):
    """Greetings"""

    scopes = ["channels:history", "im:history"]

    @listen_to(r"^hi$|^hello$")
    async def greet(self, msg):
        """hi/hello: say hello to the bot"""
        await msg.say(f"Hello {msg.at_sender}")
