"""A logging filter that keeps secrets out of every log line, whoever logs them.

slack_sdk's WebClient logs request and response bodies at DEBUG (an `oauth.v2.access` response
carries the tokens and the webhook URL), Bolt logs the bodies of requests it refuses, and an
exception's message can carry anything. The filter sits on every handler (config/settings.py
LOGGING), so it sees records from all loggers, and rewrites the message, its arguments, the
exception text and the stack text before any handler formats them.
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
    """`text` with every Slack token, webhook URL and configured secret replaced by `[redacted]`."""
    return _pattern(_configured_secrets()).sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: the handler reports it, printing msg and args, so clean both
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message), ()  # formatted once, here
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
