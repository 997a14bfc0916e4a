"""The scheduler: dramatiq-crontab's APScheduler behind a Redis lock, firing every schedule's tick.

Jobs: each plugin `@schedule` method (a tick sends `plugins.tasks.schedule_tick`, which sends one
message per active workspace) and the service's own jobs. Run as many schedulers as you like: one
holds the lock (extended every few seconds) and fires; the others wait for it. The lock is the
first guard against a tick firing twice; the second is the per-workspace claim on (method, tick)
in `plugins.tasks.run_scheduled`, which a scheduler that lost its lock mid-tick cannot get past.
"""

import logging
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django import db
from django.conf import settings
from django.utils import timezone
from dramatiq_crontab import LazyBlockingScheduler, conf, utils

from installations import tasks as installation_tasks
from plugins import tasks as plugin_tasks
from plugins.loader import scheduled_methods

logger = logging.getLogger("slackhub.scheduler")
# How late a tick may still fire (a scheduler busy or just taking over); one missed by more is skipped.
MISFIRE_GRACE_SECONDS = 30


@dataclass(frozen=True)
class Job:
    name: str  # as background.models.Schedule.name
    plugin: str  # blank: one of the service's own jobs
    method: str
    timetable: str
    trigger: CronTrigger

    def send(self, tick: str):
        if self.plugin:
            plugin_tasks.schedule_tick.send(self.plugin, self.method, tick)
        else:
            SERVICE_ACTORS[self.name].send()


SERVICE_ACTORS = {
    "refresh_tokens": installation_tasks.refresh_tokens,
    "purge_oauth_states": installation_tasks.purge_oauth_states,
    "purge_storage": plugin_tasks.purge_storage,
}


def jobs() -> list[Job]:
    zone = timezone.get_default_timezone()
    timetables = {
        "refresh_tokens": settings.SCHEDULE_REFRESH_TOKENS,
        "purge_oauth_states": settings.SCHEDULE_PURGES,
        "purge_storage": settings.SCHEDULE_PURGES,
    }
    found = [
        Job(name, "", name, timetable, CronTrigger.from_crontab(timetable, timezone=zone))
        for name, timetable in timetables.items()
    ]
    timetables, triggers = {}, {}
    for scheduled in scheduled_methods():
        key = (scheduled.plugin, scheduled.method)
        try:  # a plugin's timetable of its own time zone, or a field out of range, costs that timetable only
            trigger = CronTrigger(**{"timezone": zone, **scheduled.cron})
        except (TypeError, ValueError) as error:
            logger.error("Plugin schedule %s.%s (%s) skipped: %s", scheduled.plugin, scheduled.method,
                         scheduled.timetable, error)
            continue
        timetables.setdefault(key, []).append(scheduled.timetable)
        triggers.setdefault(key, []).append(trigger)
    for (plugin, method), several in triggers.items():
        # A method with several `@schedule`s is one schedule: it fires at the soonest of its timetables.
        trigger = several[0] if len(several) == 1 else OrTrigger(several)
        found.append(Job(f"{plugin}.{method}", plugin, method, "; ".join(timetables[plugin, method])[:200], trigger))
    return found


def tick_of(trigger, now: datetime) -> datetime:
    """The fire time this run is for, the same in any scheduler: the latest one at or before `now`
    within the grace a late run is allowed (a run starts a few ms late, or seconds on a busy host)."""
    latest, fire_time = None, trigger.get_next_fire_time(None, now - timedelta(seconds=MISFIRE_GRACE_SECONDS))
    while fire_time is not None and fire_time <= now:
        latest, fire_time = fire_time, trigger.get_next_fire_time(fire_time, fire_time + timedelta(microseconds=1))
    return latest or now.replace(microsecond=0)


def fire(job: Job):
    from background.models import Schedule

    tick = tick_of(job.trigger, datetime.now(timezone.get_default_timezone()))
    job.send(tick.isoformat())
    upcoming = job.trigger.get_next_fire_time(None, tick + timedelta(microseconds=1))
    try:
        Schedule.objects.filter(name=job.name).update(next_run_at=upcoming)
    except Exception:
        logger.exception("Could not record the next run of %s", job.name)
    finally:
        db.close_old_connections()


def register(found: list[Job]):
    """Show the schedules in the admin, with their next run."""
    from background.models import Schedule

    now = datetime.now(timezone.get_default_timezone())
    for job in found:
        Schedule.objects.update_or_create(
            name=job.name,
            defaults=dict(plugin=job.plugin, method=job.method, timetable=job.timetable,
                          next_run_at=job.trigger.get_next_fire_time(None, now)),
        )
    Schedule.objects.exclude(name__in=[job.name for job in found]).delete()


class _NoLock:
    """Without a broker there is one scheduler (in the serving process): nothing to share."""

    def acquire(self, **kwargs):
        return True

    def extend(self, *args, **kwargs):
        return True

    def release(self):
        pass


def leader_lock():
    """One scheduler fires at a time: a Redis lock in the broker's Redis."""
    if not settings.BROKER_URL:
        return _NoLock()
    client = redis.Redis.from_url(settings.BROKER_URL, socket_connect_timeout=2, socket_timeout=5)
    return client.lock(f"{settings.DRAMATIQ_NAMESPACE}:scheduler", timeout=conf.get_settings().LOCK_TIMEOUT,
                       thread_local=False)


def _stop(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run(handle_signals=True):
    """Wait for the lock, fire until it is lost (then wait again) or a signal comes."""
    if handle_signals:
        for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(stop_signal, _stop)
    try:
        while True:
            _term()
    except KeyboardInterrupt as reason:
        logger.info("Scheduler stopped (%s)", reason)


def _term():
    found = jobs()
    try:
        register(found)
    except Exception:  # the admin's view is not worth missing ticks for (e.g. migrations not run yet)
        logger.exception("Could not record the schedules for the admin")
    lock = leader_lock()
    waiting = False
    try:
        while not _acquire(lock):
            if not waiting:
                logger.info("Another scheduler holds the lock: standing by")
                waiting = True
        logger.info("Scheduler firing %d jobs: %s", len(found), ", ".join(job.name for job in found))
        scheduler = LazyBlockingScheduler(timezone=timezone.get_default_timezone())
        for job in found:
            # A tick missed by more than the grace time (no scheduler was running) is skipped, not
            # caught up; several missed ticks fire once.
            scheduler.add_job(fire, job.trigger, args=(job,), name=job.name, coalesce=True,
                              misfire_grace_time=MISFIRE_GRACE_SECONDS, max_instances=1)
        # dramatiq-crontab's: extends the lock, or shuts this scheduler down once it is lost.
        scheduler.add_job(utils.extend_lock, IntervalTrigger(seconds=conf.get_settings().LOCK_REFRESH_INTERVAL),
                          args=(lock, scheduler), name="extend the scheduler's lock")
        try:
            scheduler.start()
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
        logger.warning("Scheduler lost its lock: standing by")
    finally:
        try:
            lock.release()
        except (utils.LockError, redis.RedisError):
            pass


def _acquire(lock) -> bool:
    try:
        return lock.acquire(blocking=True, blocking_timeout=conf.get_settings().LOCK_BLOCKING_TIMEOUT)
    except redis.RedisError as error:
        logger.warning("Scheduler cannot reach the broker's Redis (%s); retrying", type(error).__name__)
        time.sleep(conf.get_settings().LOCK_BLOCKING_TIMEOUT)
        return False
