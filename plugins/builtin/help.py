"""`help`: what every loaded plugin can do, from its methods' docstrings."""

from plugins.base import MachineBasePlugin
from plugins.decorators import respond_to


class HelpPlugin(MachineBasePlugin):
    """Getting help"""

    @respond_to(r"^help$")
    async def help(self, msg):
        """help: what the app can do"""
        await msg.say(self.help_text())

    def help_text(self) -> str:
        from plugins.loader import registry

        found = registry()
        lines, seen = [], set()
        handlers = (
            [handler for handler, _, _ in found.respond_to + found.listen_to + found.actions]
            + [handler for handlers in found.commands.values() for handler in handlers]
        )
        for handler in sorted(handlers, key=lambda handler: handler.name):
            doc = (handler.function.__doc__ or "").strip().splitlines()
            if doc and handler.name not in seen:
                seen.add(handler.name)
                plugin = found.plugins[handler.plugin]
                title = (type(plugin).__doc__ or type(plugin).__name__).strip().splitlines()[0]
                lines.append(f"*{title}*: {doc[0]}")
        return "Here's what I can do:\n" + "\n".join(f"• {line}" for line in lines)
