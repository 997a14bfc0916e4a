from django.contrib import admin

from sandbox.models import ApiCall, AuthorizationCode, Channel, Enterprise, Message, Token, User, Workspace


class ReadOnlyAdmin(admin.ModelAdmin):
    """The sandbox's state is made by its pages and API; the admin only shows it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Token)
class TokenAdmin(ReadOnlyAdmin):
    list_display = ["kind", "team_id", "user", "expires_at", "refresh_token_used", "revoked", "created_at"]
    exclude = ["token", "refresh_token"]


@admin.register(AuthorizationCode)
class AuthorizationCodeAdmin(ReadOnlyAdmin):
    list_display = ["team_id", "user", "bot_scopes", "user_scopes", "expires_at", "used_at"]
    exclude = ["code"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "channel", "kind", "text", "ts", "created_at"]


@admin.register(ApiCall)
class ApiCallAdmin(ReadOnlyAdmin):
    list_display = ["method", "grant_type", "team_id", "ok", "error", "created_at"]
    list_filter = ["method", "ok"]


admin.site.register([Enterprise, Workspace, User, Channel], ReadOnlyAdmin)
