"""Plugin work as Dramatiq messages: what follows the ack of an event, and scheduled methods.

`enqueue(body, workspace)` is what the web process calls before it acks: once it returns, the event
is in the broker (a Redis that persists), and a worker runs `plugins.dispatch.handle` for it. With
the broker down, the work runs in the web process instead (one warning per outage), and the next
send after a few seconds tries the broker again.

A message may be delivered twice (a worker killed mid-work is redelivered, Slack retries): each
event is claimed once, in the broker's Redis, so it is handled once. Arguments are plain JSON.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import dramatiq
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError

from installations import metrics
from installations.uninstall import SLACK_EVENTS, apply_slack_event
from plugins import dispatch
from plugins.claims import broker_state as _broker
from plugins.claims import claimed
from plugins.context import storage_key

logger = logging.getLogger("slackhub.tasks")

# Slack events are worth little after a few tries; a handler failure is the plugin's (dispatch logs
# it and never raises), so what raises here is the database or Slack being unreachable.
EVENT_OPTIONS = {"max_retries": 3, "min_backoff": 1000, "max_backoff": 30000, "time_limit": 5 * 60 * 1000}


@dramatiq.actor(**EVENT_OPTIONS)
def handle_event(body: dict, workspace: dict, key: str | None = None):
    """Run every plugin handler matching one Slack request, once per event (`key`); an uninstall or
    a revocation is applied to the workspace's installations instead."""
    with claimed(key) as mine:
        if not mine:  # a Slack retry, a replay or a second send of the same event
            metrics.count_slack_request(body, "repeat")
        elif (body.get("event") or {}).get("type") in SLACK_EVENTS:
            apply_slack_event(body, workspace)
        else:
            dispatch.handle(body, workspace)


@dramatiq.actor(**EVENT_OPTIONS)
def run_scheduled(plugin: str, method: str, workspace: dict, tick: str):
    """One scheduled method for one workspace, once per tick."""
    installation = storage_key(workspace.get("enterprise_id"), workspace.get("team_id"), workspace.get("is_enterprise_install"))
    with claimed(f"schedule:{plugin}.{method}:{tick}:{installation}") as mine:
        if mine:
            dispatch.run_scheduled(plugin, method, workspace)


@dramatiq.actor(max_retries=2, time_limit=5 * 60 * 1000)
def schedule_tick(plugin: str, method: str, tick: str):
    """A tick of a plugin's `@schedule`: one message per active workspace (redelivered, it sends them
    again, and each workspace's claim keeps it to one run)."""
    for workspace in dispatch.active_workspaces():
        run_scheduled.send(plugin, method, workspace, tick)


@dramatiq.actor(max_retries=0, time_limit=30 * 60 * 1000)
def purge_storage():
    """Delete expired plugin storage keys (the reads already ignore them)."""
    from plugins.storage import purge_expired

    logger.info("Purged %d expired plugin storage keys", purge_expired())


# --- sending ------------------------------------------------------------------------------------


def enqueue(body: dict, workspace: dict, key: str | None = None) -> None:
    """Hand one Slack request to a worker; with the broker down, to the web process's threads.

    `key` identifies the delivery (bolt_app.dedupe.delivery_key): the event is handled once per key.
    Call it before the ack: when it returns, the event is in the broker or being handled here.
    """
    if _broker.usable():
        try:
            handle_event.send(body, workspace, key)
            _broker.up()
            return
        except (RedisError, dramatiq.errors.BrokerConnectionError) as error:
            _broker.down(error)
    _in_web_process(handle_event.fn, body, workspace, key)




def broker_status() -> dict:
    """For /readyz: {"broker": "redis"|"in-process", "ok": bool}. With Redis, `ok` is the last send's
    outcome refreshed by a ping, so a probe sees an outage even when no event arrives."""
    broker = handle_event.broker
    if not isinstance(broker, RedisBroker):
        return _broker.status("in-process")
    try:
        broker.client.ping()
    except RedisError as error:
        _broker.down(error)
    else:
        _broker.up()
    return _broker.status("redis")


def broker_check() -> "str | None":
    """A /readyz check (bolt_app.health, not critical: events are still handled): None when the
    broker answers, else why not."""
    status = broker_status()
    return None if status["ok"] else "unreachable: events are handled in the web process"


_fallback = {}
_fallback_lock = threading.Lock()


def _in_web_process(function, *args):
    """Run `function(*args)` on the web process's bounded pool; with TASKS_FALLBACK_BACKLOG already
    waiting, in the calling thread (slower acks rather than memory without bound)."""
    with _fallback_lock:
        if not _fallback:
            _fallback["pool"] = ThreadPoolExecutor(settings.TASKS_FALLBACK_THREADS, thread_name_prefix="fallback")
            _fallback["slots"] = threading.BoundedSemaphore(settings.TASKS_FALLBACK_THREADS + settings.TASKS_FALLBACK_BACKLOG)
    pool, slots = _fallback["pool"], _fallback["slots"]
    if not slots.acquire(blocking=False):
        return _run_logged(function, *args)

    def run():
        try:
            _run_logged(function, *args)
        finally:
            slots.release()

    pool.submit(run)


def _run_logged(function, *args):
    from django.db import close_old_connections

    try:
        function(*args)
    except Exception:
        logger.exception("Handling an event in the web process failed")
    finally:
        close_old_connections()
