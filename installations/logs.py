"""What a log line says about its request: an id, the workspace, and how the request ended.

`RequestLogContext` (a Django middleware) gives each request an id (the proxy's `X-Request-Id` when
it is a plain token, else a new one, sent back in the response) and, for Slack's and the install
pages' paths, logs one line with the outcome. `bolt_app` names the workspace once Bolt has read the
request (`workspace.set(...)`). `JsonFormatter` (`LOG_FORMAT=json`) writes each record as one JSON
object on one line with both.

Context variables follow the request's thread: lines that Bolt's listener threads log carry
neither (their work is asynchronous by design).
"""

import json
import logging
import re
import secrets
import time
from contextvars import ContextVar

request_id: ContextVar = ContextVar("request_id", default=None)
workspace: ContextVar = ContextVar("workspace", default=None)

logger = logging.getLogger("slackhub.requests")
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The record attributes every LogRecord has; anything else was passed in `extra` and is written too.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RequestLogContext:
    """Django middleware: the request id and, for the paths worth a line of their own, the outcome."""

    logged_paths = ("/slack/",)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-Id", "")
        rid = given if _GIVEN_ID.fullmatch(given) else secrets.token_hex(8)
        id_token, workspace_token = request_id.set(rid), workspace.set(None)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = rid
            if request.path.startswith(self.logged_paths) and logger.isEnabledFor(logging.INFO):
                logger.info(
                    "%s %s %s", request.method, request.path, response.status_code,
                    extra={"outcome": response.status_code, "duration_ms": round((time.monotonic() - started) * 1000, 1)},
                )
            return response
        finally:
            request_id.reset(id_token)
            workspace.reset(workspace_token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, workspace, anything passed
    as `extra` (e.g. `outcome`), and the exception or stack. JSON escapes every control character,
    so no input can start a line."""

    def format(self, record):
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
            "workspace": workspace.get(),
        }
        entry.update({name: value for name, value in vars(record).items() if name not in _STANDARD})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
