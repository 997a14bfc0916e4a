"""Dramatiq middleware (listed in settings.DRAMATIQ_BROKER): what operators see, and the worker
threads of a process that has no worker process beside it.

Imported while Django loads its apps (django_dramatiq builds the broker then): models are imported
inside the hooks.
"""

import logging
import os

from django import db
from django.conf import settings
from django.utils import timezone
from dramatiq.middleware import Middleware

from installations.redaction import redact

logger = logging.getLogger("slackhub.tasks")

# Actors that are a schedule's tick (the service's own jobs, a plugin schedule's fan-out), and the
# per-workspace runs of a plugin schedule.
SCHEDULE_TICKS = {"refresh_tokens", "purge_oauth_states", "purge_storage", "schedule_tick"}
SCHEDULE_RUNS = {"run_scheduled"}


def schedule_name(message) -> "str | None":
    if message.actor_name in ("schedule_tick", "run_scheduled"):
        return f"{message.args[0]}.{message.args[1]}"
    return message.actor_name if message.actor_name in SCHEDULE_TICKS else None


def describe(exception) -> str:
    return redact(f"{type(exception).__name__}: {exception}")[:2000]


class Bookkeeping(Middleware):
    """Schedule runs and failed messages in the database. A message that succeeds costs no query,
    except a schedule's tick (one UPDATE per tick, not per workspace)."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        name = schedule_name(message)
        if name is None or (exception is None and message.actor_name in SCHEDULE_RUNS):
            return
        from background.models import Schedule

        now = timezone.now()
        try:
            if exception is None:
                Schedule.objects.filter(name=name).update(last_run_at=now)
            else:
                Schedule.objects.filter(name=name).update(last_error=describe(exception), last_error_at=now)
        except Exception:
            logger.exception("Could not record a run of schedule %s", name)

    def before_nack(self, broker, message):
        """A message is nacked when it failed for good (its retries ran out)."""
        from background.models import FailedMessage

        exception = getattr(message, "_exception", None)
        workspace = next((arg for arg in message.args if isinstance(arg, dict) and "team_id" in arg), {})
        try:
            FailedMessage.objects.update_or_create(
                message_id=message.message_id,
                defaults=dict(
                    actor=message.actor_name,
                    enterprise_id=workspace.get("enterprise_id") or "",
                    team_id=workspace.get("team_id") or "",
                    error=describe(exception) if exception else "failed",
                    message=message.asdict(),
                    failed_at=timezone.now(),
                    retried_at=None,
                ),
            )
        except Exception:
            logger.exception("Could not record failed message %s", message.message_id)
        finally:
            # After DbConnectionsMiddleware's cleanup of this message: clean up again.
            db.close_old_connections()


class InProcessWorker(Middleware):
    """With TASKS_IN_PROCESS, the first message a process sends starts its worker threads (the stub
    broker's messages never leave the process; `make run` consumes Redis itself)."""

    def before_enqueue(self, broker, message, delay):
        if settings.TASKS_IN_PROCESS:
            from background import in_process

            in_process.start_worker(broker)


class LoadPlugins(Middleware):
    """A worker process loads the plugins (and runs their `init()`) when it boots, not on its first message."""

    def after_worker_boot(self, broker, worker):
        from plugins.loader import registry

        registry()


class BelowTheWeb(Middleware):
    """A worker process lowers its CPU priority when it boots (TASKS_WORKER_NICE, `nice`'s scale).

    Where workers share cores with web processes (one host, `make run`'s split, a small VM), the
    web's acks then win over the workers' replies: Slack wants an ack within 3 s and retries, then
    disables the subscription, when it gets none; a reply a moment later costs nothing. On a host
    of their own workers run as before (nothing else asks for the CPU).
    """

    def after_process_boot(self, broker):
        if settings.TASKS_WORKER_NICE > 0:
            os.nice(settings.TASKS_WORKER_NICE)
