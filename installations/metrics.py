"""Every Prometheus metric the service counts (served at `/metrics`, bolt_app/metrics_view.py).

The lowest layer defines them, so every layer can count: `installations` (the authorize cache,
the audit trail, Slack's Web API), `plugins` (handler runs), `bolt_app` (Slack requests, OAuth
failures, HTTP requests).

Several processes, one scrape: with `PROMETHEUS_MULTIPROC_DIR` set (config/gunicorn.py sets one
when `METRICS_TOKEN` is given), prometheus_client's multiprocess mode has each process write its
counts to its own files in that directory, and a scrape adds up every file. Web workers and
Dramatiq workers sharing the directory (one host) are seen in one scrape. An ended process's
counters are kept until a web or worker start removes them (`remove_ended`); Prometheus's `rate()`
takes the drop as a counter reset.

Labels are bounded sets (routes, Slack's types and methods, plugins, reasons): never a workspace,
a person or anything else a request can make up.
"""

import glob
import json
import logging
import os
import re
import time

import dramatiq
from prometheus_client import (
    REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest, multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from installations.slack_http import PooledWebClient

logger = logging.getLogger(__name__)

disable_created_metrics()  # no `_created` series: half the lines, and Prometheus has no use for them
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Where this process's files go; it must exist before the first metric below is created.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# --- HTTP (bolt_app.metrics_view.RequestMetrics) ------------------------------------------------

HTTP_REQUESTS = Counter(
    "slackhub_http_requests_total", "HTTP requests by route (the URL pattern's name) and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "slackhub_http_request_duration_seconds", "Time to answer an HTTP request, by route.", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# --- Slack's requests (bolt_app.listeners, plugins.tasks) ------------------------------------------

SLACK_REQUESTS = Counter(
    "slackhub_slack_requests_total",
    "Signed, authorized Slack events and interactions by type (an event's type, `command`, or the "
    "interaction's type) and outcome: queued (for a worker), repeat (a retry, replay or redelivery, "
    "found claimed by the worker), error.",
    ["type", "outcome"],
)
_TYPE = re.compile(r"[a-z_.]{1,40}")

# --- The installation store -----------------------------------------------------------------------

AUTHORIZE_CACHE = Counter(
    "slackhub_authorize_cache_total",
    "Installation lookups by result: hit (from the cache), miss (read from the database), outage "
    "(the cache did not answer: read from the database).",
    ["result"],
)
# Bound once: the warm path pays for an increment, not a label lookup.
AUTHORIZE_CACHE_HIT, AUTHORIZE_CACHE_MISS, AUTHORIZE_CACHE_OUTAGE = (
    AUTHORIZE_CACHE.labels(result) for result in ("hit", "miss", "outage")
)
LOCAL_COPY_OFF = Counter(
    "slackhub_authorize_local_copy_off_total",
    "Times a process's local copy of the cache was emptied and switched off for a few seconds "
    "(Redis's invalidation messages unavailable).",
)
INSTALLATION_EVENTS = Counter(
    "slackhub_installation_events_total",
    "The audit trail's events by kind: installed, reinstalled, scopes_changed, uninstalled, revoked, "
    "refreshed (token refreshes) and refresh_failed (refreshes Slack refused).",
    ["kind"],
)
OAUTH_FAILURES = Counter("slackhub_oauth_failures_total", "Installs that failed, by reason.", ["reason"])

# --- Slack's Web API ----------------------------------------------------------------------------

SLACK_API_CALLS = Counter(
    "slackhub_slack_api_calls_total",
    "Slack Web API calls by method and outcome: ok, Slack's error code, or `unreachable`.",
    ["method", "error"],
)
SLACK_API_RATE_LIMITED = Counter(
    "slackhub_slack_api_rate_limited_total", "Slack Web API answers of HTTP 429 (ratelimited), by method.", ["method"]
)
SLACK_API_RETRY_AFTER = Counter(
    "slackhub_slack_api_retry_after_seconds_total",
    "Seconds spent waiting out Slack's Retry-After before retrying, by method.", ["method"],
)
_METHOD = re.compile(r"[A-Za-z0-9_.]{1,60}")

# --- Plugins (plugins.dispatch) ----------------------------------------------------------------

PLUGIN_RUNS = Counter(
    "slackhub_plugin_handler_runs_total",
    "Plugin handler runs by plugin and outcome: ok, error (it raised), slack_refused (a Web API call "
    "it made was refused).",
    ["plugin", "outcome"],
)
PLUGIN_DURATION = Histogram(
    "slackhub_plugin_handler_duration_seconds", "Time a plugin handler ran, by plugin.", ["plugin"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


# --- counting helpers -----------------------------------------------------------------------------


def slack_request_type(body: dict) -> str:
    """What a Slack request is, as a bounded label: the event's type, `command`, or the
    interaction's type (Slack signed it, but a label never takes an arbitrary string)."""
    if body.get("type") == "event_callback":
        kind = (body.get("event") or {}).get("type")
    elif body.get("command"):
        kind = "command"
    else:
        kind = body.get("type")
    return kind if isinstance(kind, str) and _TYPE.fullmatch(kind) else "other"


def count_slack_request(body: dict, outcome: str) -> None:
    SLACK_REQUESTS.labels(slack_request_type(body), outcome).inc()


class RateLimitRetries(RateLimitErrorRetryHandler):
    """slack_sdk's handler for HTTP 429 (it sleeps Slack's Retry-After, then retries), counting each
    429 and the time waited. Bolt copies a client's retry handlers into its per-request clients, so
    they count too."""

    def can_retry(self, *, state, request, response=None, error=None):
        if response is not None and response.status_code == 429:
            SLACK_API_RATE_LIMITED.labels(_method_of(request.url)).inc()
        return super().can_retry(state=state, request=request, response=response, error=error)

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None):
        started = time.monotonic()
        try:
            super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)
        finally:
            SLACK_API_RETRY_AFTER.labels(_method_of(request.url)).inc(time.monotonic() - started)


def retry_handlers():
    """slack_sdk's default (one retry on a dropped connection), and rate limits waited out once."""
    return [ConnectionErrorRetryHandler(), RateLimitRetries(max_retry_count=1)]


class CountedWebClient(PooledWebClient):
    """slack_sdk's `WebClient` on kept-alive connections, counting each call by method and outcome
    (every method goes through `api_call`)."""

    def api_call(self, api_method, *args, **kwargs):
        method = api_method if _METHOD.fullmatch(api_method or "") else "other"
        try:
            response = super().api_call(api_method, *args, **kwargs)
        except SlackApiError as error:
            SLACK_API_CALLS.labels(method, _error_code(error.response)).inc()
            raise
        except Exception:
            SLACK_API_CALLS.labels(method, "unreachable").inc()
            raise
        SLACK_API_CALLS.labels(method, "ok").inc()
        return response


def _error_code(response) -> str:
    try:
        code = response.get("error")
    except Exception:
        code = None
    if code is None and getattr(response, "status_code", 200) == 429:
        code = "ratelimited"
    return code if isinstance(code, str) and _METHOD.fullmatch(code) else "other"


def _method_of(url) -> str:
    method = (url or "").rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return method if _METHOD.fullmatch(method) else "other"


# --- the background queue, read at scrape time ----------------------------------------------------


class QueueCollector:
    """`slackhub_queue_depth` and `slackhub_queue_oldest_message_age_seconds` per Dramatiq queue,
    read from the broker when scraped: with Redis, one pipelined round trip for every queue's length
    and first message id, and one for those messages' enqueue times."""

    def __init__(self, broker=None):
        self.broker = broker  # None: Dramatiq's global broker, looked up at each scrape

    def collect(self):
        depth = GaugeMetricFamily("slackhub_queue_depth", "Messages waiting in the background queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "slackhub_queue_oldest_message_age_seconds",
            "Age of the oldest message waiting in the queue (0 when empty).", labels=["queue"],
        )
        try:
            for queue, waiting, enqueued_ms in _queues(self.broker if self.broker is not None else dramatiq.get_broker()):
                depth.add_metric([queue], waiting)
                age.add_metric([queue], max(0.0, time.time() - enqueued_ms / 1000) if enqueued_ms else 0.0)
        except Exception as error:  # the broker is down: /readyz says so; the scrape still answers
            logger.warning("Queue metrics unavailable: %s", type(error).__name__)
            return
        yield depth
        yield age


def _queues(broker):
    """[(queue, messages waiting, enqueue time of the oldest in ms or None)]."""
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.brokers.stub import StubBroker

    names = sorted(broker.get_declared_queues() | broker.get_declared_delay_queues())
    if isinstance(broker, RedisBroker):
        # Dramatiq's Redis layout (brokers/redis/dispatch.lua): `ns:queue` lists message ids in
        # arrival order (RPUSH, consumed with LPOP), `ns:queue.msgs` maps an id to the message.
        keys = [f"{broker.namespace}:{name}" for name in names]
        pipe = broker.client.pipeline(transaction=False)
        for key in keys:
            pipe.llen(key)
            pipe.lindex(key, 0)
        answers = pipe.execute()
        lengths, first_ids = answers[0::2], answers[1::2]
        pipe = broker.client.pipeline(transaction=False)
        for key, first in zip(keys, first_ids):
            pipe.hget(f"{key}.msgs", first or b"")
        messages = pipe.execute()
        return [(name, n, _enqueued_ms(data)) for name, n, data in zip(names, lengths, messages)]
    if isinstance(broker, StubBroker):
        found = []
        for name in names:
            queue = broker.queues.get(name)
            waiting = list(queue.queue)[:1] if queue is not None else []
            found.append((name, queue.qsize() if queue is not None else 0, _enqueued_ms(waiting[0]) if waiting else None))
        return found
    return []


def _enqueued_ms(data):
    if not data:
        return None
    try:
        return int(json.loads(data)["message_timestamp"])
    except (ValueError, KeyError, TypeError):
        return None


QUEUES = QueueCollector()
REGISTRY.register(QUEUES)


# --- exposition and the files of multiprocess mode --------------------------------------------


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """Every metric in Prometheus's text format: every process's counts in multiprocess mode, else
    this process's; the queue read now."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QUEUES)
    return generate_latest(registry)


def remove_ended() -> None:
    """Remove the metric files of processes that no longer run.

    Called when web (gunicorn's master) or a Dramatiq worker starts. A running process's files stay:
    web and workers may share the directory.
    """
    directory = multiprocess_dir()  # made at import, when set
    if not directory:
        return
    for path in glob.glob(os.path.join(directory, "*.db")):
        pid = os.path.basename(path)[:-3].rsplit("_", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            try:
                os.remove(path)
            except FileNotFoundError:  # another starting process removed it first
                pass


def process_ended(pid) -> None:
    """A process ended: its live gauges stop counting (its counters stay, see `remove_ended`)."""
    directory = multiprocess_dir()
    if directory:
        multiprocess.mark_process_dead(pid, directory)


def _running(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class WorkerProcesses(dramatiq.Middleware):
    """Dramatiq middleware: each worker process clears what ended processes left at boot, and is
    marked ended at shutdown, as gunicorn's hooks do for web workers (config/gunicorn.py)."""

    def after_process_boot(self, broker):
        remove_ended()

    def after_worker_shutdown(self, broker, worker):
        process_ended(os.getpid())
