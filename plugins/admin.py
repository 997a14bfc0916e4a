"""The console's plugin pages: each workspace's storage keys (read-only; values for superusers
only), its role grants (given and taken here or by the `roles` plugin) and the scopes it lacks."""

from django.contrib import admin
from django.db.models import Count, Exists, OuterRef
from django.template.response import TemplateResponse

from installations.admin import ReadOnlyAdmin, when
from plugins import context
from plugins.models import MissingScope, PluginData, RoleGrant
from plugins.storage import loads, storage_backend, workspace_prefix


class MissingScopeFilter(admin.SimpleListFilter):
    title = "missing scopes"
    parameter_name = "missing_scopes"

    def lookups(self, request, model_admin):
        return [("yes", "Needs a reinstall for a scope"), ("no", "Has every scope")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(lacks_scope=self.value() == "yes")
        return queryset


@admin.register(PluginData)
class PluginDataAdmin(ReadOnlyAdmin):
    list_display = ["name", "status", "needs", "roles_given"]
    list_filter = [MissingScopeFilter, "status"]
    search_fields = ["team_name", "enterprise_name", "team_id", "enterprise_id"]
    ordering = ["team_name", "enterprise_name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            lacks_scope=Exists(MissingScope.objects.filter(workspace=OuterRef("pk"))),
            role_count=Count("role_grants", distinct=True),
        ).prefetch_related("missing_scopes")

    @admin.display(description="workspace", ordering="team_name")
    def name(self, obj):
        return str(obj)

    @admin.display(description="needs")
    def needs(self, obj):
        scopes = sorted({row.scope for row in obj.missing_scopes.all()})
        return f"needs {', '.join(scopes)}" if scopes else "—"

    @admin.display(description="roles given", ordering="role_count")
    def roles_given(self, obj):
        return obj.role_count

    def change_view(self, request, object_id, form_url="", extra_context=None):
        workspace = self.get_object(request, object_id)
        if workspace is None or not self.has_view_permission(request, workspace):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        prefix = workspace_prefix(context.storage_key(workspace.enterprise_id, workspace.team_id, workspace.is_enterprise_install))
        try:
            keys = storage_backend().keys(prefix)
            storage_error = None
        except Exception as error:  # Redis down: say so, keep the page
            keys, storage_error = [], type(error).__name__
        show_values = request.user.is_superuser
        rows = []
        for key, size, expires_at in keys:
            value = None
            if show_values:
                raw = storage_backend().get(key)
                try:
                    value = repr(loads(raw)) if raw is not None else "(expired)"
                except (ValueError, KeyError, TypeError):  # not written by PluginStorage (another tool, an older format)
                    value = f"(not readable as plugin storage: {len(raw)} bytes)"
            namespace, _, name = key[len(prefix):].partition(":")
            rows.append({"namespace": namespace, "key": name, "size": size, "expires": when(expires_at), "value": value})
        return TemplateResponse(request, "admin/plugins/plugindata/detail.html", {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": f"Plugin data of {workspace}", "workspace": workspace,
            "keys": rows, "show_values": show_values, "storage_error": storage_error,
            "missing_scopes": workspace.missing_scopes.all(), "grants": workspace.role_grants.all(),
        })


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    """Roles given in a workspace; admins (installer, Slack's admins and owners) need no grant."""

    list_display = ["role", "user_id", "team_id", "workspace", "granted_by", "granted_at"]
    list_filter = ["role"]
    search_fields = ["role", "user_id", "team_id", "workspace__team_name"]
    fields = ["workspace", "team_id", "user_id", "role"]
    console_lookups = ("workspace__id__exact",)

    def has_change_permission(self, request, obj=None):
        return False  # give or take a role; a grant itself is not edited

    def save_model(self, request, obj, form, change):
        obj.granted_by = f"admin:{request.user.get_username()}"
        super().save_model(request, obj, form, change)
