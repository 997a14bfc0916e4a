"""The operator's console. Tokens are never shown in full and never editable."""

import csv

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils import timezone

from installations import models
from installations.rotation import RefreshRefused, refresh_workspace
from installations.uninstall import uninstall_workspace


def masked(token, expires_at=None):
    """`xoxb-…a1b2 (expires 2026-11-22 15:00 UTC)`: enough to tell tokens apart, never enough to use."""
    if not token:
        return "—"
    kind = token.split("-", 1)[0] if "-" in token[:12] else "token"
    if token.startswith("https://"):
        kind = "webhook URL"
    text = f"{kind}-…{token[-4:]}"
    if expires_at:
        text += f" (expires {timezone.localtime(expires_at):%Y-%m-%d %H:%M %Z})"
    return text


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TokenColumns:
    @admin.display(description="bot token")
    def bot_token_masked(self, obj):
        return masked(obj.bot_token, obj.bot_token_expires_at)

    @admin.display(description="user token")
    def user_token_masked(self, obj):
        return masked(obj.user_token, obj.user_token_expires_at)

    @admin.display(description="incoming webhook")
    def webhook_masked(self, obj):
        return masked(obj.incoming_webhook_url)


class InstallationInline(TokenColumns, ReadOnlyInline):
    model = models.Installation
    fields = ["installed_at", "user_id", "bot_user_id", "bot_scopes", "user_scopes", "bot_token_masked", "user_token_masked"]
    readonly_fields = fields
    ordering = ["-installed_at"]


class BotInline(TokenColumns, ReadOnlyInline):
    model = models.Bot
    fields = ["installed_at", "bot_id", "bot_user_id", "bot_scopes", "bot_token_masked"]
    readonly_fields = fields
    ordering = ["-installed_at"]


class EventInline(ReadOnlyInline):
    model = models.InstallationEvent
    fields = ["created_at", "kind", "actor", "detail"]
    readonly_fields = fields
    show_change_link = False


@admin.register(models.Workspace)
class WorkspaceAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__", "team_id", "enterprise_id", "is_enterprise_install", "status", "latest_installed_at", "user_tokens",
    ]
    list_filter = ["status", "is_enterprise_install", "latest_installed_at"]
    search_fields = ["team_id", "team_name", "enterprise_id", "enterprise_name", "installations__user_id"]
    readonly_fields = [
        "client_id", "enterprise_id", "enterprise_name", "team_id", "team_name", "is_enterprise_install", "status",
        "status_reason", "first_installed_at", "latest_installed_at", "uninstalled_at",
    ]
    exclude = ["refresh_lease_until"]
    inlines = [InstallationInline, BotInline, EventInline]
    actions = ["refresh_tokens_now", "uninstall", "export_csv"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request)
            .annotate(user_token_count=Count("installations", filter=Q(installations__user_token__isnull=False)))
            .distinct()
        )

    @admin.display(description="user tokens", ordering="user_token_count")
    def user_tokens(self, obj):
        return obj.user_token_count

    @admin.action(description="Refresh tokens now", permissions=["change"])
    def refresh_tokens_now(self, request, queryset):
        from bolt_app.app import get_store

        store = get_store()
        for workspace in queryset:
            user_ids = list(workspace.installations.filter(user_refresh_token__isnull=False).values_list("user_id", flat=True))
            try:
                done = refresh_workspace(
                    store, workspace.enterprise_id, workspace.team_id, user_ids=user_ids,
                    actor=f"operator:{request.user.get_username()}", force=True,
                )
            except RefreshRefused as refused:
                self.message_user(request, f"{workspace}: Slack refused the refresh ({refused}); needs reinstall.", messages.ERROR)
            except Exception as error:
                self.message_user(request, f"{workspace}: refresh failed ({type(error).__name__}).", messages.ERROR)
            else:
                what = ", ".join(done) if done else "nothing to refresh (no rotating tokens)"
                self.message_user(request, f"{workspace}: refreshed {what}.", messages.SUCCESS)

    @admin.action(description="Uninstall (revoke at Slack, then delete)", permissions=["delete"])
    def uninstall(self, request, queryset):
        from bolt_app.app import get_store

        for workspace in queryset:
            confirmed = uninstall_workspace(get_store(), workspace, actor=f"operator:{request.user.get_username()}")
            if confirmed:
                self.message_user(request, f"{workspace}: tokens revoked at Slack and deleted.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"{workspace}: deleted here, but Slack could not confirm the revocation.", messages.WARNING
                )

    @admin.action(description="Export as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="workspaces.csv"'
        columns = ["enterprise_id", "enterprise_name", "team_id", "team_name", "is_enterprise_install", "status",
                   "first_installed_at", "latest_installed_at", "uninstalled_at"]
        writer = csv.writer(response)
        writer.writerow(columns)
        for workspace in queryset:
            writer.writerow([getattr(workspace, column) for column in columns])
        return response

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_change_permission(self, request, obj=None):
        # Gates the "refresh" action (uninstall is gated by delete); every field stays read-only.
        return request.user.has_perm("installations.change_workspace")


@admin.register(models.Installation)
class InstallationAdmin(TokenColumns, ReadOnlyAdmin):
    list_display = ["__str__", "team_id", "enterprise_id", "user_id", "installed_at", "bot_token_masked", "user_token_masked"]
    list_filter = ["is_enterprise_install", "installed_at"]
    search_fields = ["team_id", "team_name", "enterprise_id", "user_id"]
    exclude = ["bot_token", "bot_refresh_token", "user_token", "user_refresh_token", "incoming_webhook_url"]
    readonly_fields = ["bot_token_masked", "user_token_masked", "webhook_masked"]


@admin.register(models.Bot)
class BotAdmin(TokenColumns, ReadOnlyAdmin):
    list_display = ["__str__", "team_id", "enterprise_id", "bot_id", "installed_at", "bot_token_masked"]
    search_fields = ["team_id", "team_name", "enterprise_id", "bot_id", "bot_user_id"]
    exclude = ["bot_token", "bot_refresh_token"]
    readonly_fields = ["bot_token_masked"]


@admin.register(models.InstallationEvent)
class InstallationEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "workspace", "actor", "detail"]
    list_filter = ["kind", "workspace"]
    search_fields = ["workspace__team_name", "workspace__team_id", "workspace__enterprise_id", "actor"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.OAuthState)
class OAuthStateAdmin(ReadOnlyAdmin):
    list_display = ["state_masked", "expire_at", "expired"]
    actions = ["purge_expired"]
    exclude = ["state"]
    readonly_fields = ["state_masked", "expire_at"]

    @admin.display(description="state")
    def state_masked(self, obj):
        return f"…{obj.state[-6:]}"

    @admin.display(boolean=True)
    def expired(self, obj):
        return obj.expire_at <= timezone.now()

    @admin.action(description="Purge expired states", permissions=["delete"])
    def purge_expired(self, request, queryset):
        count = models.OAuthState.objects.filter(expire_at__lte=timezone.now()).delete()[0]
        self.message_user(request, f"Purged {count} expired states.")
