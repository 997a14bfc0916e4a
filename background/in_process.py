"""The worker and the scheduler as threads of a process that serves requests: `make run`
(`manage.py runall`), and the one gunicorn process of a deployment without a broker."""

import logging
import os
import threading

import dramatiq
from django.conf import settings

logger = logging.getLogger("slackhub.tasks")
_started = {}  # what -> pid that started it (threads do not survive a fork)
_lock = threading.Lock()


def _once(what) -> bool:
    with _lock:
        if _started.get(what) == os.getpid():
            return False
        _started[what] = os.getpid()
        return True


def start_worker(broker=None):
    """Dramatiq worker threads consuming every queue of this process's broker (once per process)."""
    if _started.get("worker") == os.getpid():  # every send comes here: no lock once started
        return
    if not _once("worker"):
        return
    worker = dramatiq.Worker(
        broker or dramatiq.get_broker(), worker_threads=settings.TASKS_IN_PROCESS_THREADS, worker_timeout=settings.TASKS_POLL_MS
    )
    worker.start()
    logger.info("Worker running in this process (%d threads)", settings.TASKS_IN_PROCESS_THREADS)


def start_scheduler():
    """The scheduler on a daemon thread (once per process); it waits its turn for the lock."""
    if not _once("scheduler"):
        return
    from background import scheduler

    threading.Thread(target=scheduler.run, kwargs={"handle_signals": False}, name="scheduler", daemon=True).start()


def start():
    start_worker()
    start_scheduler()
