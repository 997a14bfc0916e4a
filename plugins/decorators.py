"""Slack Machine's decorators (`machine.plugins.decorators`). They only tag methods; the loader
(`plugins.loader`) registers what it finds on each plugin class."""

import functools
import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from plugins import roles
from plugins.admin_utils import RoleCombinator
from plugins.awaitable import blocking

CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second", "start_date", "end_date", "timezone")


@dataclass
class Metadata:
    """What the decorators of one function asked for."""

    listen_to: list = field(default_factory=list)  # (compiled regex, handle_message_changed)
    respond_to: list = field(default_factory=list)
    commands: list = field(default_factory=list)  # "/name"
    actions: list = field(default_factory=list)  # (action_id matcher, block_id matcher)
    process: list = field(default_factory=list)  # event types
    schedules: list = field(default_factory=list)  # dicts of cron fields
    on: list = field(default_factory=list)  # emitted event names
    required_settings: list = field(default_factory=list)


def metadata(thing) -> Metadata:
    if "_slackhub_metadata" not in vars(thing):
        thing._slackhub_metadata = Metadata()
    return thing._slackhub_metadata


def _tag(add):
    def decorator(function):
        add(metadata(function))
        return function

    return decorator


def process(slack_event_type: str):
    """Call the method with the event (a dict) for every Events API event of this type."""
    return _tag(lambda meta: meta.process.append(slack_event_type))


def listen_to(regex: str, flags: int = re.IGNORECASE, handle_message_changed: bool = False):
    """Call the method with a `Message` for every channel message matching `regex` (searched anywhere
    in the text); named groups arrive as keyword arguments."""
    return _tag(lambda meta: meta.listen_to.append((re.compile(regex, flags), handle_message_changed)))


def respond_to(regex: str, flags: int = re.IGNORECASE, handle_message_changed: bool = False):
    """Like `listen_to`, for messages addressed to the bot: starting with a mention of it, or in a DM
    with it. The mention is stripped before matching."""
    return _tag(lambda meta: meta.respond_to.append((re.compile(regex, flags), handle_message_changed)))


def command(slash_command: str):
    """Call the method with a `Command` for a slash command (acknowledged before the method runs)."""
    name = slash_command if slash_command.startswith("/") else f"/{slash_command}"
    return _tag(lambda meta: meta.commands.append(name))


def action(action_id: str | re.Pattern | None = None, block_id: str | re.Pattern | None = None):
    """Call the method with a `BlockAction` for block actions matching both ids (a string matches
    exactly, a compiled regex by `re.match`, as Slack Machine); at least one is required."""
    if action_id is None and block_id is None:
        raise ValueError("action() needs an action_id or a block_id")
    return _tag(lambda meta: meta.actions.append((action_id, block_id)))


def schedule(year=None, month=None, day=None, week=None, day_of_week=None, hour=None, minute=None,
             second=None, start_date=None, end_date=None, timezone=None):
    """Run the method on a cron timetable (APScheduler's fields, seconds included), once per tick for
    every active workspace."""
    fields = {name: value for name, value in locals().items() if value is not None}
    return _tag(lambda meta: meta.schedules.append(fields))


def on(event: str):
    """Call the method with the keyword arguments of every `self.emit(event, ...)` in the same workspace."""
    return _tag(lambda meta: meta.on.append(event))


def required_settings(settings: list[str] | str):
    """Skip the plugin (on a class) or the method unless these Django settings are set (non-empty)."""
    names = [settings] if isinstance(settings, str) else list(settings)
    return _tag(lambda meta: meta.required_settings.extend(names))


def _require_roles(required_roles, matches, combinator):
    def decorator(function):
        @functools.wraps(function)
        def wrapper(self, target, *args, **kwargs):
            if matches(roles.roles_of(target.sender.id), set(required_roles)):
                return function(self, target, *args, **kwargs)
            _deny(self, target, required_roles, combinator)

        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def async_wrapper(self, target, *args, **kwargs):
                held = blocking(lambda: roles.roles_of(target.sender.id))  # the ORM, with the loop set aside
                if matches(held, set(required_roles)):
                    return await function(self, target, *args, **kwargs)
                said = _deny(self, target, required_roles, combinator)
                if inspect.isawaitable(said):
                    await said

            chosen = async_wrapper
        else:
            chosen = wrapper
        chosen._slackhub_metadata = metadata(function)
        return chosen

    return decorator


def _deny(plugin, target, required_roles, combinator):
    """As Slack Machine: tell the person, and emit `unauthorized-access` (with Slack Machine's
    arguments) for whoever listens. Returns what `say` returned (a coroutine in an async handler)."""
    plugin.emit("unauthorized-access", message=target, required_roles=list(required_roles), combinator=combinator)
    return target.say("I'm sorry, but you don't have access to that command", ephemeral=True)


def require_any_role(required_roles: list[str]):
    """The person must hold at least one of these roles in this workspace."""
    return _require_roles(required_roles, lambda held, required: bool(held & required), RoleCombinator.ANY)


def require_all_roles(required_roles: list[str]):
    """The person must hold every one of these roles in this workspace."""
    return _require_roles(required_roles, lambda held, required: required <= held, RoleCombinator.ALL)


def wants(function) -> Any:
    return getattr(function, "_slackhub_metadata", None)
