"""From a Slack request to plugin handlers: the one entry point for events, commands and actions
(`handle`), and for scheduled methods (`run_scheduled`).

`handle` takes plain JSON (the parsed request body and the workspace's ids), so it runs the same in
Bolt's listener thread, in a Dramatiq worker or in a test. It authorizes from the installation store
(no SQL and no Slack call when warm), binds the workspace to the handlers it calls, and isolates them:
a plugin that raises is logged with its workspace and plugin, and the others still run.
"""

import inspect
import logging
import re
import time
from functools import lru_cache

from django.conf import settings
from slack_sdk.errors import SlackApiError

from installations import metrics
from installations.models import Workspace
from plugins import awaitable as aio
from plugins import claims, context, scopes
from plugins.block_action import BlockAction
from plugins.command import Command
from plugins.loader import registry
from plugins.message import Message

logger = logging.getLogger("slackhub.plugins")

# Slack Machine's test for a message addressed to the bot: it starts with a mention of it.
_ADDRESSED = re.compile(r"^<@(?P<user>[A-Z0-9]+)(?:\|[^>]*)?>:?\s*(?P<text>.*)$", re.DOTALL)
# Message subtypes that are a person writing (others are joins, topic changes, deletions, ...).
_WRITTEN = {None, "message_changed", "thread_broadcast", "file_share", "me_message"}
MENTION_CLAIM_SECONDS = 600
UNHANDLED_MENTION = "unhandled-mention"  # emitted with `message=` when no respond_to matched


def handle(body: dict, workspace: dict) -> None:
    here = context.for_workspace(workspace)
    if here is None:
        logger.info("no usable installation for workspace %s: event not handled", workspace.get("team_id"))
        return
    with context.bound(here):
        if body.get("type") == "event_callback":
            _event(here, body["event"])
        elif body.get("command"):
            handlers = registry().commands.get(body["command"], [])
            for handler in handlers:
                _call(here, handler, Command(here, body))
            if not handlers:  # Slack shows the app's silence as nothing at all: say why
                _unknown_command(here, body)
        elif body.get("type") == "block_actions":
            for triggered in body.get("actions") or []:
                for handler, action_id, block_id in registry().actions:
                    if _id_matches(action_id, triggered.get("action_id")) and _id_matches(block_id, triggered.get("block_id")):
                        _call(here, handler, BlockAction(here, body, triggered))


def run_scheduled(plugin: str, method: str, workspace: dict) -> None:
    """One `@schedule` method for one workspace (one tick)."""
    handler = registry().handler(plugin, method)
    here = context.for_workspace(workspace)
    if handler is None or here is None:
        logger.info("scheduled %s.%s not run for workspace %s: %s", plugin, method, workspace.get("team_id"),
                    "no such plugin method" if handler is None else "no usable installation")
        return
    with context.bound(here):
        _call(here, handler)


def active_workspaces() -> list[dict]:
    """The installations a schedule tick runs for: every active workspace (org-wide installs once)."""
    rows = Workspace.objects.filter(client_id=settings.SLACK_CLIENT_ID, status=Workspace.ACTIVE)
    return [
        {"enterprise_id": row.enterprise_id or None, "team_id": row.team_id or None,
         "is_enterprise_install": row.is_enterprise_install}
        for row in rows.order_by("pk")
    ]


def emit(event: str, **kwargs) -> None:
    here = context.current()
    for handler in registry().on.get(event, []):
        _call(here, handler, start=True, **kwargs)


# --- events -------------------------------------------------------------------------------------


def _event(here, event):
    kind = event.get("type")
    if kind == "message":
        _message(here, event)
    elif kind == "app_mention":
        _mention(here, event)
    for handler in registry().process.get(kind, []):
        _call(here, handler, event)


def _message(here, event):
    changed = event.get("subtype") == "message_changed"
    if changed:  # as Slack Machine: the edited message, in the channel of the change event
        event = {**(event.get("message") or {}), "channel": event.get("channel"), "channel_type": event.get("channel_type")}
    if event.get("subtype") not in _WRITTEN or not event.get("user") or _own(here, event):
        return
    text = event.get("text") or ""
    addressed = _addressed(here, event, text)
    # One reply per mention: Slack sends a `message` and an `app_mention` for it; whichever comes first
    # answers. Not for DMs and edits: Slack sends no app_mention for those.
    respond = addressed is not None and (changed or _is_direct(event) or _first_claim(here, event))
    wording = addressed if addressed is not None else text
    for handler, regex, on_change in registry().listen_to:
        if not (changed and not on_change):
            _run_if_matches(here, handler, regex, Message(here, event, wording))
    if respond:
        _respond(here, Message(here, event, wording), changed)


def _mention(here, event):
    if _own(here, event) or not event.get("user"):
        return
    # Slack sends app_mention for a mention anywhere in the text; respond_to (as in Slack Machine) wants
    # it first, and a mention elsewhere is only greeted (`unhandled-mention`).
    text = event.get("text") or ""
    addressed = _addressed(here, event, text)
    if not _first_claim(here, event):
        return
    message = Message(here, {**event, "channel_type": event.get("channel_type", "channel")}, addressed or text)
    if addressed is None:
        emit(UNHANDLED_MENTION, message=message)
    else:
        _respond(here, message)


def _respond(here, message, changed=False):
    """The `respond_to` handlers matching a message for the bot; none matching emits `unhandled-mention`
    (the greeting plugin answers it), so a person who talks to the app always hears back."""
    matched = False
    for handler, regex, on_change in registry().respond_to:
        if not (changed and not on_change):
            matched = _run_if_matches(here, handler, regex, message) or matched
    if not matched and not changed:
        emit(UNHANDLED_MENTION, message=message)


def _run_if_matches(here, handler, regex, message) -> bool:
    match = regex.search(message.text)
    if match:
        _call(here, handler, message, **match.groupdict())
    return match is not None


def _own(here, event) -> bool:
    return event.get("user") == here.bot_user_id or (here.bot_id and event.get("bot_id") == here.bot_id)


def _addressed(here, event, text) -> str | None:
    """The text without the leading mention when the message is for the bot (a DM, or a message that
    starts with a mention of it), else None."""
    match = _ADDRESSED.match(text)
    if match and match.group("user") == here.bot_user_id:
        return match.group("text")
    if _is_direct(event):
        return text
    return None


def _is_direct(event) -> bool:
    """A DM with the bot, or a group DM it is in: every message there is for it (as Slack Machine)."""
    return event.get("channel_type") in ("im", "mpim")


def _first_claim(here, event) -> bool:
    return claims.first(f"mention:{here.storage_key}:{event.get('channel')}:{event.get('ts')}", MENTION_CLAIM_SECONDS)


def _id_matches(matcher, value) -> bool:
    if matcher is None:
        return True
    if isinstance(matcher, re.Pattern):
        return isinstance(value, str) and matcher.match(value) is not None
    return matcher == value


# --- running a handler --------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _takes_logger(function) -> bool:
    try:
        return "logger" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _call(here, handler, *args, start=False, **kwargs):
    """Run one handler in `here`, unless the workspace lacks a scope its plugin declared."""
    lacking = scopes.lacking(here, handler.scopes)
    if lacking:
        scopes.note(here, handler.plugin, lacking, f"skipped ({handler.method})")
        return
    if _takes_logger(handler.function):
        kwargs["logger"] = logging.getLogger(handler.plugin)
    previous, here.plugin = here.plugin, handler.plugin
    outcome, started = "ok", time.perf_counter()
    try:
        (aio.start if start else aio.run)(handler.function, *args, **kwargs)
    except SlackApiError as error:
        outcome = "slack_refused"
        code = error.response.get("error")
        logger.warning("plugin %s.%s in workspace %s: Slack refused a call (%s)", handler.plugin, handler.method,
                       here.team_id or here.enterprise_id, code)
        if code == "missing_scope" and args and hasattr(args[0], "say"):
            _explain_missing_scope(args[0], error.response.get("needed") or "")
    except Exception:
        outcome = "error"
        logger.exception("plugin %s.%s failed in workspace %s", handler.plugin, handler.method, here.team_id or here.enterprise_id)
    finally:
        here.plugin = previous
        metrics.PLUGIN_RUNS.labels(handler.plugin, outcome).inc()
        metrics.PLUGIN_DURATION.labels(handler.plugin).observe(time.perf_counter() - started)


def _unknown_command(here, body):
    try:
        here.respond(body.get("response_url"), text=f"Sorry, `{body['command']}` isn't available here.", response_type="ephemeral")
    except Exception as error:
        logger.warning("could not answer the unknown command %s: %s", body["command"], type(error).__name__)


def _explain_missing_scope(target, needed):
    """Tell the person why nothing happened, with the link that fixes it."""
    try:
        aio.run(target.say, f"I can't do that here yet: this workspace hasn't granted the app `{needed}`. "
                            f"An admin can reinstall the app to grant it: {scopes.reinstall_url()}", ephemeral=True)
    except Exception:
        logger.warning("could not explain a missing scope (%s) to the person", needed)
