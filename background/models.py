"""What operators see of the background work: each schedule, and the messages that failed.

Written on failures and on schedule ticks only, never for a message that succeeds (no SQL on the
per-event path); the queues themselves live in the broker.
"""

from django.db import models


class Schedule(models.Model):
    """One job of the scheduler: a plugin's `@schedule` method, or one of the service's own jobs."""

    name = models.CharField(max_length=300, unique=True)  # "<plugin class path>.<method>" or the job's actor
    plugin = models.CharField(max_length=255, blank=True)  # blank: the service's own job
    method = models.CharField(max_length=100)
    timetable = models.CharField(max_length=200)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(auto_now=True)  # when a scheduler last registered it

    class Meta:
        ordering = ["plugin", "method"]

    def __str__(self):
        return self.name


class FailedMessage(models.Model):
    """A message whose retries ran out. `message` is Dramatiq's message as a dict (actor, args,
    options), enough to send it again."""

    message_id = models.CharField(max_length=64, unique=True)
    actor = models.CharField(max_length=100)
    enterprise_id = models.CharField(max_length=32, blank=True)
    team_id = models.CharField(max_length=32, blank=True)
    error = models.TextField()
    message = models.JSONField()
    failed_at = models.DateTimeField()
    retried_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self):
        return f"{self.actor} {self.message_id}"
