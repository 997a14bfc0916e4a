from django.contrib import admin

from sandbox.models import ApiCall, AuthorizationCode, Channel, Delivery, Enterprise, Message, Reaction, Token, User, Workspace


class ReadOnlyAdmin(admin.ModelAdmin):
    """The sandbox's pages and API make its state; the admin only shows it (never token values)."""

    exclude = ["token", "refresh_token", "code"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register([Enterprise, Workspace, User, Channel, AuthorizationCode, Token, Reaction], ReadOnlyAdmin)
admin.site.register(Delivery, ReadOnlyAdmin, list_display=["workspace", "what", "status", "created_at"])
admin.site.register(Message, ReadOnlyAdmin, list_display=["workspace", "channel", "kind", "text", "created_at"])
admin.site.register(ApiCall, ReadOnlyAdmin, list_display=["method", "grant_type", "team_id", "ok", "error", "created_at"])
