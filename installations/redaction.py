"""A logging filter that keeps secrets out of every log line, and input from starting one.

slack_sdk's WebClient logs request and response bodies at DEBUG (an `oauth.v2.access` response
carries the tokens and the webhook URL, its request the OAuth code), Bolt logs the bodies of requests
it refuses and the raw `code` of a failed exchange, and an exception's message can carry anything.
The filter sits on every handler (config/settings.py LOGGING), so it sees records from all loggers,
and rewrites the message, its arguments, the exception text and the stack text before any handler
formats them.

A log line is one record: the message has its control characters escaped (a code holding a newline
once wrote a fake ERROR line), and every line of a traceback after the first starts with blanks, so
a line that starts at the margin is always the start of a record.
"""

import logging
import re
import traceback
from functools import lru_cache

from django.conf import settings

REDACTED = "[redacted]"

# Slack tokens: xoxb-, xoxp-, xoxa-2-, xoxe.xoxb-1-, xoxe-1- (refresh), xapp-1-, ... No leading \b:
# in a URL-encoded body a token follows "%22" or "%3D".
_TOKEN = r"x(?:ox[a-z]?(?:\.xox[a-z])?|app)-[A-Za-z0-9-]+"
# Incoming webhooks and response_urls (the path is the credential), also JSON-escaped or URL-encoded.
_SLACK_HOOK = r"hooks\.slack\.com[^\s\"'<>]*"
# The sandbox's stand-ins for them (development and tests).
_SANDBOX_HOOK = r"sandbox(?:/|\\/|%2[Ff])hooks[^\s\"'<>]*"
# HTTP Basic credentials (client id and secret, as slack_sdk sends them to oauth.v2.access).
_BASIC = r"Basic [A-Za-z0-9+/]{8,}=*"
# OAuth codes and states, wherever they show: a query or form (`code=...`), a dict or JSON
# (`'code': '...'`), Bolt's "with code: ...". The name is kept, the value goes.
_OAUTH_VALUE = re.compile(
    r"""(?<![A-Za-z0-9_])((?:code|state)=|['"](?:code|state)['"]: ?['"]|with code: )((?:%[0-9A-Fa-f]{2}|[^\s&'"%])+)"""
)
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _configured_secrets():
    values = [settings.SLACK_CLIENT_SECRET, settings.SLACK_SIGNING_SECRET, settings.SECRET_KEY]
    values += settings.TOKEN_ENCRYPTION_KEYS
    values += [database.get("PASSWORD") for database in settings.DATABASES.values()]
    # Short values would redact ordinary words; real secrets are long.
    return tuple(sorted({value for value in values if value and len(value) >= 8}, key=len, reverse=True))


@lru_cache(maxsize=4)
def _pattern(secrets):
    return re.compile("|".join([_TOKEN, _SLACK_HOOK, _SANDBOX_HOOK, _BASIC, *map(re.escape, secrets)]))


def redact(text: str) -> str:
    """`text` with every Slack token, webhook URL, OAuth code and state, and configured secret
    replaced by `[redacted]`."""
    text = _OAUTH_VALUE.sub(lambda match: match.group(1) + REDACTED, text)
    return _pattern(_configured_secrets()).sub(REDACTED, text)


def one_line(text: str) -> str:
    """`text` with its control characters escaped (a newline as `\\n`): it cannot start a line."""
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match):
    character = match.group()
    if character in _ESCAPES:
        return _ESCAPES[character]
    return f"\\x{ord(character):02x}" if ord(character) < 0x100 else f"\\u{ord(character):04x}"


def indented(text: str) -> str:
    """A traceback or stack whose every line (the formatter puts it on a line of its own) starts
    with blanks: the record's own lines keep their look, a line injected through a message is
    marked as part of the record."""
    return "\n".join(
        line if line.startswith(" ") else "  " + line for line in map(one_line, text.split("\n"))
    )


class RedactSecrets(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: the handler reports it, printing msg and args, so clean both
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = one_line(redact(message)), ()  # formatted once, here
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = indented(redact(record.exc_text))
        if record.stack_info:
            record.stack_info = indented(redact(record.stack_info))
        return True
