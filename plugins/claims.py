"""One processing per key, across every worker: claims in the broker's Redis (the stub broker's
messages never leave the process, so neither do its claims).

`claimed(key)` guards the whole handling of a Dramatiq message (an event, a schedule's run for a
workspace); `first(key, seconds)` is a plain one-time claim (plugins.dispatch: one reply per mention).
Each is one Redis command on the worker's own connection pool.
"""

import logging
import threading
import time

import dramatiq
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage
from redis.exceptions import RedisError

logger = logging.getLogger("slackhub.tasks")


class claimed:
    """`with claimed(key) as mine:` True when this delivery should run the work for `key`.

    The claim holds the message's id while it runs and "done" after. Another message for the same key
    (a Slack retry that got through) finds either and does nothing: the first is done, or still owns
    an unacked message the broker will redeliver if its worker dies. A redelivery of the owner itself
    (its worker died mid-work) runs again. A failure releases the claim, so a retry can run.
    """

    def __init__(self, key):
        self.key = key and _claim_name(key)
        message = CurrentMessage.get_current_message()
        self.owner = message.message_id if message else None

    def __enter__(self):
        if self.key is None or self.owner is None:
            return True
        store = _claims()
        try:
            if store.set(self.key, self.owner, nx=True, ex=settings.TASKS_CLAIM_SECONDS):
                return True
            holder = store.get(self.key)
        except RedisError as error:
            logger.warning("Claim store unavailable (%s): handling %s without a claim", type(error).__name__, self.key)
            self.key = None
            return True
        holder = holder.decode() if isinstance(holder, bytes) else holder
        if holder == self.owner:
            return True
        logger.info("Skipped %s: %s", self.key.rsplit(":claim:", 1)[-1], "already handled" if holder == "done" else "handled by another delivery")
        self.key = None  # not ours: nothing to mark on exit
        return False

    def __exit__(self, kind, error, traceback):
        if self.key is None or self.owner is None:
            return False
        try:
            if error is None:
                _claims().set(self.key, "done", ex=settings.TASKS_CLAIM_SECONDS)
            else:
                _claims().delete(self.key)
        except RedisError as failure:
            logger.warning("Claim store unavailable (%s) after handling %s", type(failure).__name__, self.key)
        return False


class _LocalClaims:
    """Claims for the stub broker: its messages never leave the process, so neither do its claims."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def set(self, key, value, nx=False, ex=None):
        now = time.monotonic()
        with self.lock:
            current = self.values.get(key)
            if nx and current and current[1] > now:
                return False
            if len(self.values) > 100_000:
                self.values = {k: v for k, v in self.values.items() if v[1] > now}
            self.values[key] = (value, now + (ex or 0))
            return True

    def get(self, key):
        with self.lock:
            current = self.values.get(key)
            return current[0] if current and current[1] > time.monotonic() else None

    def delete(self, key):
        with self.lock:
            self.values.pop(key, None)


_local_claims = _LocalClaims()


def _claim_name(key):
    return f"{settings.DRAMATIQ_NAMESPACE}:claim:{key}"


def _claims():
    broker = dramatiq.get_broker()
    return broker.client if isinstance(broker, RedisBroker) else _local_claims


# After a failure, how long the broker's Redis is left alone before it is tried again.
BROKER_RETRY_SECONDS = 5


class BrokerState:
    """Whether the broker's Redis is used (for sends, and for `first`'s claims): after a failure, not
    for BROKER_RETRY_SECONDS (a dead Redis would otherwise cost every event a connection attempt),
    then the next call tries again. One warning when it goes, one when it is back."""

    def __init__(self):
        self.lock = threading.Lock()
        self.failed_at = None  # monotonic time of the last failure; None while the broker is up

    def usable(self) -> bool:
        failed_at = self.failed_at
        return failed_at is None or time.monotonic() - failed_at >= BROKER_RETRY_SECONDS

    def down(self, error):
        with self.lock:
            first = self.failed_at is None
            self.failed_at = time.monotonic()
        if first:
            logger.warning(
                "Broker unavailable (%s): events are handled in the web process until it is back", type(error).__name__
            )

    def up(self):
        if self.failed_at is not None:
            with self.lock:
                back, self.failed_at = self.failed_at is not None, None
            if back:
                logger.warning("Broker available again: events go to the workers")

    def status(self, kind) -> dict:
        return {"broker": kind, "ok": self.failed_at is None}


broker_state = BrokerState()


def first(key: str, seconds: int) -> bool:
    """Claim `key` for `seconds`: True the first time, False while it is held.

    With the broker's Redis down (events are then handled in the web process), claims are this
    process's own until it is back: a second reply may then come from another process, which beats none.
    """
    name = _claim_name(key)
    if broker_state.usable():
        try:
            claimed_now = bool(_claims().set(name, "1", nx=True, ex=seconds))
        except RedisError as error:
            broker_state.down(error)
        else:
            broker_state.up()
            return claimed_now
    return _local_claims.set(name, "1", nx=True, ex=seconds)
