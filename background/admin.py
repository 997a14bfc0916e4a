"""The console's view of background work: each schedule with its last and next run, and the
messages that failed for good, which an operator can send again."""

import dramatiq
from django.contrib import admin, messages
from django.utils import timezone
from django_dramatiq.models import Task
from redis.exceptions import RedisError

from background.models import FailedMessage, Schedule
from installations.admin import ReadOnlyAdmin, when

# django-dramatiq's task log records every message (queries on the per-event path): not used here.
if admin.site.is_registered(Task):
    admin.site.unregister(Task)


@admin.register(Schedule)
class ScheduleAdmin(ReadOnlyAdmin):
    list_display = ("plugin_or_service", "method", "timetable", "next_run", "last_run", "last_error_short")
    list_filter = ("plugin",)
    fields = ("name", "plugin", "method", "timetable", "next_run", "last_run", "last_error", "last_error_time")
    readonly_fields = fields

    @admin.display(description="plugin", ordering="plugin")
    def plugin_or_service(self, obj):
        return obj.plugin or "(service)"

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, obj):
        return when(obj.next_run_at)

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, obj):
        return when(obj.last_run_at)

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return f"{when(obj.last_error_at)}: {obj.last_error[:120]}" if obj.last_error else "—"

    @admin.display(description="last error at")
    def last_error_time(self, obj):
        return when(obj.last_error_at)


@admin.register(FailedMessage)
class FailedMessageAdmin(ReadOnlyAdmin):
    list_display = ("failed", "actor", "workspace", "error_short", "retried")
    list_filter = ("actor", "team_id")
    fields = ("message_id", "actor", "workspace", "error", "failed", "retried")
    readonly_fields = fields
    actions = ["retry"]

    @admin.display(description="failed", ordering="failed_at")
    def failed(self, obj):
        return when(obj.failed_at)

    @admin.display(description="sent again", ordering="retried_at")
    def retried(self, obj):
        return when(obj.retried_at)

    @admin.display(description="workspace", ordering="team_id")
    def workspace(self, obj):
        return " / ".join(part for part in (obj.enterprise_id, obj.team_id) if part) or "—"

    @admin.display(description="error")
    def error_short(self, obj):
        return obj.error[:120]

    @admin.action(description="Send the selected messages again", permissions=["refresh"])
    def retry(self, request, queryset):
        broker, sent = dramatiq.get_broker(), 0
        for row in queryset:
            data = row.message
            options = {k: v for k, v in data.get("options", {}).items() if k not in ("retries", "traceback", "redis_message_id", "eta")}
            message = dramatiq.Message(
                queue_name=data["queue_name"], actor_name=data["actor_name"], args=tuple(data["args"]),
                kwargs=data.get("kwargs") or {}, options=options, message_id=data["message_id"],
                message_timestamp=data["message_timestamp"],
            )
            try:
                broker.enqueue(message)
            except RedisError:
                self.message_user(request, "The broker is unavailable: try again when it is back.", messages.ERROR)
                break
            row.retried_at = timezone.now()
            row.save(update_fields=["retried_at"])
            sent += 1
        if sent:
            self.message_user(request, f"Sent {sent} message(s) again.", messages.SUCCESS)
