"""gunicorn settings for production: `gunicorn -c config/gunicorn.py config.wsgi`.

gthread workers: a request is checked, put on the broker and acked, so a worker's threads spend
their time waiting on Redis and the database, not the CPU.
"""

import multiprocessing
import os
import tempfile

bind = f"0.0.0.0:{os.getenv('PORT', '8000')}"
worker_class = "gthread"
# Several web processes need a broker (BROKER_URL, else REDIS_URL). Without one, the web process
# is the whole service: it handles events on threads of its own (Dramatiq's stub broker), and runs
# the scheduler, which a second process would run again, firing every schedule twice.
broker = os.getenv("BROKER_URL") or os.getenv("REDIS_URL")
workers = int(os.getenv("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 if broker else 1))
if workers > 1 and not broker and os.getenv("RUN_SCHEDULER_IN_WEB", "1").strip().lower() in ("1", "true", "yes", "on"):
    raise SystemExit(
        f"WEB_CONCURRENCY={workers} needs a broker (BROKER_URL or REDIS_URL): without one every web process "
        "runs the schedules, and each would fire them again. Set one, or run one web process "
        "(or RUN_SCHEDULER_IN_WEB=0 and a scheduler of your own)."
    )
threads = int(os.getenv("GUNICORN_THREADS", "8"))
timeout = int(os.getenv("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# Slack retries what it did not get an answer for in 3 s; a slow request is worth seeing.
# The path without its query string: /slack/oauth_redirect carries the OAuth code and state there.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.getenv("FORWARDED_ALLOW_IPS", "127.0.0.1")

# /metrics (METRICS_TOKEN) must see every worker: prometheus_client's multiprocess mode, where each
# worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR. Set here, in the master, before any
# worker imports prometheus_client (it reads the variable at import).
if os.getenv("METRICS_TOKEN") and not os.getenv("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="slackhub-metrics-")


def on_starting(server):
    """What ended processes counted is cleared at start (a directory given may be a previous run's)."""
    if os.getenv("PROMETHEUS_MULTIPROC_DIR"):
        from installations import metrics

        metrics.remove_ended()


def child_exit(server, worker):
    """An ended worker's live gauges stop counting; its counters stay until the next start."""
    if os.getenv("PROMETHEUS_MULTIPROC_DIR"):
        from installations import metrics

        metrics.process_ended(worker.pid)


def post_worker_init(worker):
    """Without a broker, the scheduler runs here (the worker threads start with the first event)."""
    from django.conf import settings

    if settings.RUN_SCHEDULER_IN_WEB:
        from background import in_process

        in_process.start_scheduler()
