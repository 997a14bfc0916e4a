"""The shape of what Slack sends, checked before Bolt routes a signed request.

Bolt indexes payloads without checking them (`body["actions"][0]["action_id"]`, `re.findall(keyword,
event["text"])`), and listeners trust the types Slack documents (`int(body["event_time"])`). A signed
body of another shape would be a 500 inside Bolt or a stack trace from a listener; here it is a 400.

The tables cover every kind plugins handle: events (messages with their edits and bot messages,
mentions, uninstalls, revocations), slash commands, block actions, view submissions and closes,
shortcuts and message shortcuts, and options requests. Fields are checked only where someone reads
them; anything else Slack adds passes untouched, so Slack can grow its payloads without a 400.
"""

import logging

from slack_bolt.middleware import Middleware
from slack_bolt.response import BoltResponse

from installations import logs

logger = logging.getLogger(__name__)


class Maybe:
    """A key that may be missing (or null, when `nullable`); when present it has `shape`."""

    def __init__(self, shape, nullable=False):
        self.shape, self.nullable = shape, nullable


class Either:
    def __init__(self, *shapes):
        self.shapes = shapes


class ListOf:
    """A list (empty too, unless `non_empty`) whose every item has `shape`."""

    def __init__(self, shape, non_empty=False):
        self.shape, self.non_empty = shape, non_empty


def optional(shape=object):
    return Maybe(shape)


def nullable(shape):
    return Maybe(shape, nullable=True)


# A shape is a type, a dict of {key: shape} (an object with those keys), or one of the classes above.
ID = str
USER = {"id": ID, "team_id": optional(ID)}
TEAM = {"id": ID}
CHANNEL = {"id": ID}
# `text` may be missing, never null: Bolt's keyword matcher runs re.findall on it.
MESSAGE = {
    "type": optional(str), "subtype": nullable(str), "text": optional(str), "user": nullable(ID),
    "bot_id": nullable(ID), "ts": optional(str), "thread_ts": nullable(str), "blocks": optional(list),
}
VIEW = {
    "id": optional(ID), "type": str, "callback_id": str, "private_metadata": optional(str),
    "state": optional({"values": dict}), "team_id": optional(ID), "app_installed_team_id": nullable(ID),
}
ACTION = {"action_id": str, "block_id": optional(str), "type": optional(str), "action_ts": optional(str)}
AUTHORIZATION = {
    "enterprise_id": nullable(ID), "team_id": nullable(ID), "user_id": optional(ID),
    "is_bot": optional(bool), "is_enterprise_install": optional(bool),
}

# Top-level fields Bolt reads from any request, whatever its kind (request/internals.py builds the
# context from them, and the installation store looks the ids up).
ANY_REQUEST = {
    "type": optional(str),
    "team_id": nullable(ID), "enterprise_id": nullable(ID), "user_id": optional(ID), "channel_id": optional(ID),
    "api_app_id": optional(ID), "trigger_id": optional(str), "response_url": optional(str),
    "team": nullable(Either(ID, TEAM)), "enterprise": nullable(Either(ID, {"id": ID})),
    "user": optional(Either(ID, USER)), "channel": nullable(Either(ID, CHANNEL)),
    "is_enterprise_install": optional(Either(bool, str)),  # a string in slash commands' forms
    "authorizations": optional(ListOf(AUTHORIZATION)),
    "event": optional({"type": str}),
    "command": optional(str), "callback_id": optional(str), "action_id": optional(str), "block_id": optional(str),
    "view": optional(VIEW), "actions": optional(ListOf(dict, non_empty=True)), "container": optional(dict),
    "message": optional(MESSAGE),
}

INTERACTION = {"user": USER}
BY_TYPE = {
    "event_callback": {"event": dict, "event_id": str, "event_time": int},
    "url_verification": {"challenge": str},
    "block_actions": {**INTERACTION, "actions": ListOf(ACTION, non_empty=True), "container": optional(dict),
                      "trigger_id": optional(str)},
    "view_submission": {**INTERACTION, "view": VIEW, "trigger_id": optional(str)},
    "view_closed": {**INTERACTION, "view": VIEW, "is_cleared": optional(bool)},
    "shortcut": {**INTERACTION, "callback_id": str, "trigger_id": str},
    "message_action": {**INTERACTION, "callback_id": str, "trigger_id": str, "message": MESSAGE, "channel": CHANNEL},
    "block_suggestion": {**INTERACTION, "action_id": str, "block_id": optional(str), "value": str},
}
# Slash commands come as a form without a type.
COMMAND = {"command": str, "text": optional(str), "user_id": ID, "channel_id": ID, "trigger_id": optional(str)}

EVENT_BY_TYPE = {
    "app_mention": {"user": ID, "text": str, "channel": ID, "ts": str, "thread_ts": optional(str)},
    # New messages, bot messages (`bot_id`, maybe `subtype: bot_message`), edits (`message_changed`,
    # with `message` and `previous_message`) and deletions (`message_deleted`).
    "message": {
        **MESSAGE, "channel": ID, "channel_type": optional(str),
        "message": optional(MESSAGE), "previous_message": optional(MESSAGE),
    },
    "app_uninstalled": {},
    "tokens_revoked": {"tokens": {"oauth": nullable(ListOf(ID)), "bot": nullable(ListOf(ID))}},
}

# Ids Bolt put in the request's context (from wherever it found them): the store looks them up.
CONTEXT_IDS = ("enterprise_id", "team_id", "user_id", "channel_id", "thread_ts",
               "actor_enterprise_id", "actor_team_id", "actor_user_id", "response_url")


def fits(value, shape) -> bool:
    if isinstance(shape, type):
        # bool is an int to Python, not to Slack.
        return isinstance(value, shape) and not (shape is int and isinstance(value, bool))
    if isinstance(shape, Either):
        return any(fits(value, option) for option in shape.shapes)
    if isinstance(shape, ListOf):
        return isinstance(value, list) and (bool(value) or not shape.non_empty) and all(fits(item, shape.shape) for item in value)
    if not isinstance(value, dict):
        return False
    for key, part in shape.items():
        if isinstance(part, Maybe):
            if key not in value or value[key] is None and part.nullable:
                continue
            part = part.shape
        if key not in value or not fits(value[key], part):
            return False
    return True


def problem(body) -> "str | None":
    """What is wrong with a parsed request body (None: nothing Bolt or a listener would trip over)."""
    if not isinstance(body, dict):
        return "not an object"
    if not fits(body, ANY_REQUEST):
        return "a field of the wrong type"
    kind = body.get("type")
    if kind is None and "command" in body and not fits(body, COMMAND):
        return "slash command"
    if kind in BY_TYPE and not fits(body, BY_TYPE[kind]):
        return str(kind)
    if kind == "event_callback":
        event_type = body["event"]["type"]
        if event_type in EVENT_BY_TYPE and not fits(body["event"], EVENT_BY_TYPE[event_type]):
            return f"{event_type} event"
    if not storable(body):
        return "a NUL character or a lone surrogate"
    return None


def storable(value) -> bool:
    """No NUL character and no lone surrogate in any string of `value`: Slack sends neither, and no
    database takes them (PostgreSQL refuses a NUL even in a WHERE clause)."""
    pending = [value]
    while pending:  # iterative: a parsed body nests nearly as deep as Python's stack allows
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value or not value.isascii() and _has_surrogate(value):
                return False
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _has_surrogate(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unreadable_response() -> BoltResponse:
    return BoltResponse(status=400, body={"error": "unreadable request"})


class CheckShape(Middleware):
    """Bolt's `before_authorize` middleware: a misshapen request goes no further than this (no store
    lookup, no listener)."""

    def process(self, *, req, resp, next):
        reason = problem(req.body) or _context_problem(req.context)
        if reason is None:
            # The workspace, on the request's log lines from here on (installations/logs.py).
            context = req.context
            logs.workspace.set(context.enterprise_id if context.is_enterprise_install else context.team_id)
            return next()
        logger.warning("Refused a signed request Bolt cannot read: %s", reason)
        return unreadable_response()


def _context_problem(context):
    for name in CONTEXT_IDS:
        value = context.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} of the wrong type"
    return None
