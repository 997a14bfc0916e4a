"""One processing per delivery.

Slack redelivers what it thinks went unanswered (`X-Slack-Retry-Num`: after 3 s, a timeout or a 5xx),
and anyone holding a signed request can replay it within the 5 minutes its timestamp is good for.
Each is answered, but only the first delivery of an event (by `event_id`) or an interaction (by its
own id) is processed. The claim is one `cache.add` (Redis `SET NX` in production); it is made after
authorize, so a request that failed there (the database down: a 500, which Slack retries) is not
counted as delivered.
"""

import logging
import threading
import time

from django.core.cache import cache
from slack_bolt.middleware import Middleware
from slack_bolt.response import BoltResponse

from installations import metrics

logger = logging.getLogger(__name__)

# Longer than Slack's retries (about 5 minutes in all) and the signature's 5-minute window.
TTL_SECONDS = 600
# While the cache is down, claims are not even tried for this long (no timeout paid per event).
OUTAGE_BACKOFF_SECONDS = 5
_outage = {"failing": False, "retry_at": 0.0}
_lock = threading.Lock()


def first_delivery(key: str) -> bool:
    """Claim `key`: True the first time within TTL_SECONDS, False for a repeat.

    A cache outage must not stop events: while the cache is down every delivery counts as the first
    (a retry may then be processed twice), with one warning per outage.
    """
    if time.monotonic() < _outage["retry_at"]:
        return True
    try:
        claimed = cache.add(f"delivery:{key}", 1, timeout=TTL_SECONDS)
    except Exception as error:
        with _lock:
            first_failure = not _outage["failing"]
            _outage.update(failing=True, retry_at=time.monotonic() + OUTAGE_BACKOFF_SECONDS)
        if first_failure:
            logger.warning("Delivery cache unavailable, repeats are not detected: %s", type(error).__name__)
        return True
    if _outage["failing"]:
        _outage["failing"] = False
        logger.warning("Delivery cache available again, repeats are detected")
    return bool(claimed)


# Interactions that carry a trigger_id, fresh for each click, submission or command.
_TRIGGERED = ("block_actions", "view_submission", "shortcut", "message_action", "interactive_message",
              "dialog_submission", "workflow_step_edit")


def delivery_key(body: dict) -> "str | None":
    """What identifies one delivery of `body` (a request bolt_app.payloads accepted); None: a request
    that may be repeated (url_verification, options requests, which only read)."""
    kind = body.get("type")
    if kind == "event_callback":
        return f"event:{body['event_id']}"
    if kind is None and "command" in body:
        kind = "command"
    if kind in _TRIGGERED or kind == "command":
        if body.get("trigger_id"):
            return f"{kind}:{body['trigger_id']}"
        if kind == "block_actions":  # from a message in a context that gives no trigger
            message_ts = (body.get("container") or {}).get("message_ts")
            return f"block_actions:{message_ts}:{body['actions'][0].get('action_ts')}"
    if kind == "view_closed" and body["view"].get("id"):
        return f"view_closed:{body['view']['id']}"
    return None


class SkipRepeats(Middleware):
    """Bolt global middleware (after authorize): a repeated delivery is acked and goes no further."""

    def process(self, *, req, resp, next):
        key = delivery_key(req.body)
        if key is None or first_delivery(key):
            return next()
        retry = req.headers.get("x-slack-retry-num", [None])[0]
        logger.info("Skipped a repeated delivery (%s, retry %s)", key, retry)
        metrics.count_slack_request(req.body, "repeat")
        return BoltResponse(status=200, body="")
