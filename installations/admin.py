"""The operator console's model pages. Tokens are never shown in full and nothing about them is editable.

Nothing is edited or deleted through Django's forms: the only writes are the actions (refresh tokens
now, uninstall, purge expired states), gated by the change and delete permissions, so a staff user
with view permissions only (the "support" group) can browse and export but change nothing. The site
itself (index counts, login) is config/console.py.
"""

import csv

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count, Exists, OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone

from installations import models
from installations.crypto import Unreadable
from installations.rotation import ANYTIME, RefreshRefused, due_workspaces, refresh_workspace
from installations.stores import installation_store
from installations.uninstall import uninstall_workspace

RECENT_EVENTS = 20


UNREADABLE = "unreadable (encrypted with a key no longer configured)"


def masked(token, expires_at=None):
    """`xoxb-…a1b2 (expires 2026-11-22 15:00 UTC)`: enough to tell tokens apart, never enough to use."""
    if isinstance(token, Unreadable):
        return UNREADABLE
    if not token:
        return "—"
    if token.startswith("https://"):
        text = f"webhook URL …{token[-4:]}"
    else:
        kind = token.split("-", 1)[0] if "-" in token[:12] else "token"
        text = f"{kind}-…{token[-4:]}"
    if expires_at:
        text += f" (expires {when(expires_at)})"
    return text


def when(moment):
    """The one date format of the console (DATETIME_FORMAT, config/formats/), as Django's own columns show it."""
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else "—"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only: Django's forms never change or delete a row, so every page says "view".

    The model's change and delete permissions gate the actions instead, through the action
    permissions `refresh` (change) and `remove` (delete). (The console's site adds to every model
    page: lookups only on the filters it offers, and malformed selections refused; config/console.py.)
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # Django's own permission checks, which the overrides above hide from the forms.
    def has_refresh_permission(self, request):
        return admin.ModelAdmin.has_change_permission(self, request)

    def has_remove_permission(self, request):
        return admin.ModelAdmin.has_delete_permission(self, request)


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
    verbose_name_plural = "installation history"
    fields = ["installed_at", "user_id", "bot_user_id", "bot_scopes", "user_scopes", "bot_token_masked", "user_token_masked"]
    readonly_fields = fields
    ordering = ["-installed_at"]


class BotInline(TokenColumns, ReadOnlyInline):
    model = models.Bot
    fields = ["installed_at", "bot_id", "bot_user_id", "bot_scopes", "bot_token_masked"]
    readonly_fields = fields
    ordering = ["-installed_at"]


class RotationFilter(admin.SimpleListFilter):
    title = "token rotation"
    parameter_name = "rotation"

    def lookups(self, request, model_admin):
        return [
            ("rotating", "Rotating (expiring tokens)"),
            ("not_rotating", "Not rotating"),
            ("due", "Refresh due"),
            ("failed", "Refresh failed since the latest install"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "rotating":
            return queryset.filter(bot_expires_at__isnull=False)
        if self.value() == "not_rotating":
            return queryset.filter(bot_expires_at__isnull=True)
        if self.value() == "due":
            return due_workspaces(queryset)
        if self.value() == "failed":
            failures = models.InstallationEvent.objects.filter(
                workspace=OuterRef("pk"), kind=models.InstallationEvent.REFRESH_FAILED,
                created_at__gte=OuterRef("latest_installed_at"),
            )
            return queryset.filter(Exists(failures))
        return queryset


def _latest(model):
    return model.objects.filter(workspace=OuterRef("pk")).order_by("-installed_at")


@admin.register(models.Workspace)
class WorkspaceAdmin(ReadOnlyAdmin):
    list_display = [
        "name", "ids", "is_enterprise_install", "status_shown", "installed_by", "latest_installed_at",
        "bot_user", "user_tokens", "rotation",
    ]
    list_filter = [
        "status", "is_enterprise_install", RotationFilter,
        ("latest_installed_at", admin.DateFieldListFilter), ("first_installed_at", admin.DateFieldListFilter),
    ]
    search_fields = [
        "team_name", "enterprise_name", "team_id", "enterprise_id", "installations__user_id", "bots__bot_user_id",
    ]
    ordering = ["-latest_installed_at"]
    fieldsets = [
        (None, {"fields": ["name", "status_shown", "status_reason", "team_id", "team_name", "enterprise_id",
                           "enterprise_name", "is_enterprise_install", "client_id"]}),
        ("Installation", {"fields": ["installed_by", "first_installed_at", "latest_installed_at", "uninstalled_at",
                                     "bot_user", "bot_scopes", "rotation", "user_tokens", "authorized_users"]}),
        ("Audit trail", {"fields": ["recent_events"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]
    inlines = [InstallationInline, BotInline]
    actions = ["refresh_tokens_now", "uninstall", "export_csv"]
    change_form_template = "admin/installations/workspace/change_form.html"

    def get_queryset(self, request):
        # Subqueries, not joins: the admin's search and filters join installations too.
        bot = _latest(models.Bot).filter(bot_token__isnull=False)
        users_with_tokens = (
            models.Installation.objects.filter(workspace=OuterRef("pk"), user_token__isnull=False)
            .values("workspace").annotate(count=Count("user_id", distinct=True)).values("count")
        )
        return super().get_queryset(request).annotate(
            installer=Subquery(_latest(models.Installation).values("user_id")[:1]),
            bot_user_id=Subquery(bot.values("bot_user_id")[:1]),
            bot_scope_list=Subquery(bot.values("bot_scopes")[:1]),
            bot_expires_at=Subquery(bot.values("bot_token_expires_at")[:1]),
            bot_token_value=Subquery(bot.values("bot_token")[:1]),  # decrypted: only to tell if it is unreadable
            user_token_count=Subquery(users_with_tokens),
        )

    @admin.display(description="workspace", ordering="team_name")
    def name(self, obj):
        return str(obj)

    @admin.display(description="enterprise / team id", ordering="team_id")
    def ids(self, obj):
        return " / ".join(filter(None, [obj.enterprise_id, obj.team_id]))

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj):
        """The stored status, except that a bot token no key decrypts means a reinstall is needed."""
        if obj.status != models.Workspace.UNINSTALLED and isinstance(obj.bot_token_value, Unreadable):
            return f"Needs reinstall: the bot token is {UNREADABLE}"
        return obj.get_status_display()

    @admin.display(description="installed by", ordering="installer")
    def installed_by(self, obj):
        return obj.installer or "—"

    @admin.display(description="bot user", ordering="bot_user_id")
    def bot_user(self, obj):
        return obj.bot_user_id or "—"

    @admin.display(description="bot scopes")
    def bot_scopes(self, obj):
        return (obj.bot_scope_list or "—").replace(",", ", ")

    @admin.display(description="user tokens", ordering="user_token_count")
    def user_tokens(self, obj):
        return obj.user_token_count or 0

    @admin.display(description="bot token rotation", ordering="bot_expires_at")
    def rotation(self, obj):
        if not obj.bot_user_id:
            return "—"
        if obj.bot_expires_at is None:
            return "not rotating"
        if obj.bot_expires_at <= timezone.now():
            return f"rotating; expired {when(obj.bot_expires_at)}"
        return f"rotating; expires {when(obj.bot_expires_at)}"

    @admin.display(description="users who authorized")
    def authorized_users(self, obj):
        latest = {}
        for row in obj.installations.order_by("-installed_at"):
            latest.setdefault(row.user_id, row)
        if not latest:
            return "—"
        users = [
            (user_id, when(row.installed_at), row.user_scopes or "—", masked(row.user_token, row.user_token_expires_at))
            for user_id, row in latest.items()
        ]
        return render_to_string("admin/installations/workspace/authorized_users.html", {"users": users})

    @admin.display(description=f"latest {RECENT_EVENTS} events")
    def recent_events(self, obj):
        events = obj.events.all()[:RECENT_EVENTS]
        if not events:
            return "—"
        everything = reverse("admin:installations_installationevent_changelist") + f"?workspace__id__exact={obj.pk}"
        return render_to_string("admin/installations/workspace/recent_events.html", {
            "events": [(when(e.created_at), e.get_kind_display(), e.actor, e.detail) for e in events],
            "everything_url": everything,
        })

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The page's buttons post to the same actions as the list, so one permission check gates both.
        actions = self.get_actions(request)
        extra_context = {
            **(extra_context or {}),
            "can_refresh": "refresh_tokens_now" in actions,
            "can_uninstall": "uninstall" in actions,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _back_to_workspace(self, request, queryset):
        """Actions run from a workspace's page (its buttons) return to it; from the list, to the list."""
        if request.POST.get("from_change_page") and len(queryset) == 1:
            return redirect("admin:installations_workspace_change", queryset[0].pk)
        return None

    @admin.action(description="Refresh tokens now", permissions=["refresh"])
    def refresh_tokens_now(self, request, queryset):
        store = installation_store()
        for workspace in queryset:
            if workspace.status != models.Workspace.ACTIVE:
                self.message_user(
                    request, f"{workspace}: not refreshed ({workspace.get_status_display().lower()}).", messages.WARNING
                )
                continue
            try:
                done = refresh_workspace(
                    store, workspace.enterprise_id, workspace.team_id,
                    actor=f"operator:{request.user.get_username()}", within=ANYTIME,
                )
            except RefreshRefused as refused:
                self.message_user(request, f"{workspace}: Slack refused the refresh ({refused}); needs reinstall.", messages.ERROR)
            except Exception as error:
                self.message_user(request, f"{workspace}: refresh failed ({type(error).__name__}).", messages.ERROR)
            else:
                what = ", ".join(done) if done else "nothing to refresh (no rotating tokens)"
                self.message_user(request, f"{workspace}: refreshed {what}.", messages.SUCCESS)
        return self._back_to_workspace(request, queryset)

    @admin.action(description="Uninstall (revoke at Slack, then delete)", permissions=["remove"])
    def uninstall(self, request, queryset):
        if request.POST.get("post") != "yes":
            return TemplateResponse(request, "admin/installations/workspace/uninstall_confirmation.html", {
                **self.admin_site.each_context(request),
                "title": "Uninstall: are you sure?",
                "opts": self.model._meta,
                "workspaces": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "from_change_page": request.POST.get("from_change_page", ""),
            })
        for workspace in queryset:
            if workspace.status == models.Workspace.UNINSTALLED:
                self.message_user(request, f"{workspace}: already uninstalled.", messages.INFO)
                continue
            unreadable = has_unreadable_tokens(workspace)
            confirmed = uninstall_workspace(installation_store(), workspace, actor=f"operator:{request.user.get_username()}")
            if unreadable:
                self.message_user(request, (
                    f"{workspace}: deleted here. Its tokens were unreadable, so Slack was not asked to revoke them: "
                    "remove the app from the workspace's settings in Slack."
                ), messages.WARNING)
            elif confirmed:
                self.message_user(request, f"{workspace}: tokens revoked at Slack and deleted.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"{workspace}: deleted here, but Slack could not confirm the revocation.", messages.WARNING
                )
        return self._back_to_workspace(request, queryset)

    CSV_COLUMNS = {
        "workspace": str, "team_id": "team_id", "team_name": "team_name", "enterprise_id": "enterprise_id",
        "enterprise_name": "enterprise_name", "org_wide": "is_enterprise_install", "status": "status",
        "status_reason": "status_reason", "installed_by": "installer", "first_installed_at": "first_installed_at",
        "latest_installed_at": "latest_installed_at", "uninstalled_at": "uninstalled_at", "bot_user_id": "bot_user_id",
        "bot_scopes": "bot_scope_list", "user_tokens": "user_token_count", "bot_token_expires_at": "bot_expires_at",
    }

    @admin.action(description="Export as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="workspaces.csv"'
        writer = csv.writer(response)
        writer.writerow(self.CSV_COLUMNS)
        for workspace in queryset:
            writer.writerow([
                spreadsheet_safe(value(workspace) if callable(value) else getattr(workspace, value))
                for value in self.CSV_COLUMNS.values()
            ])
        return response


# OWASP's list: a cell starting with one of these can run as a formula (TAB and CR too, once trimmed).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def has_unreadable_tokens(workspace):
    """Whether any stored token of `workspace` is one no configured key decrypts."""
    rows = [*workspace.installations.all(), *workspace.bots.all()]
    return any(isinstance(getattr(row, name, None), Unreadable) for row in rows for name in ("bot_token", "user_token"))


def spreadsheet_safe(value):
    """Workspace names come from Slack: never let one start a spreadsheet formula."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


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
    # Beyond its filters, the list takes what a workspace's page and the index's counts link with.
    console_lookups = ("workspace__id__exact", "kind__in")
    list_display = ["created_at", "kind", "workspace", "actor", "detail"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__team_name", "workspace__team_id", "workspace__enterprise_id", "actor"]


class ExpiredFilter(admin.SimpleListFilter):
    title = "expired"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(expire_at__lte=timezone.now())
        if self.value() == "no":
            return queryset.filter(expire_at__gt=timezone.now())
        return queryset


@admin.register(models.OAuthState)
class OAuthStateAdmin(ReadOnlyAdmin):
    list_display = ["state_masked", "expire_at", "expired"]
    list_filter = [ExpiredFilter]
    actions = ["purge_expired"]
    exclude = ["state"]
    readonly_fields = ["state_masked", "expire_at"]

    def has_view_permission(self, request, obj=None):
        # A state in flight can finish someone else's install (its cookie carries the state itself):
        # only those who may purge states see them, never the view-only support group.
        return self.has_remove_permission(request)

    @admin.display(description="state")
    def state_masked(self, obj):
        return f"…{obj.state[-6:]}"

    @admin.display(boolean=True)
    def expired(self, obj):
        return obj.expire_at <= timezone.now()

    @admin.action(description="Purge the selected states that have expired", permissions=["remove"])
    def purge_expired(self, request, queryset):
        # A state still valid may belong to an install in progress: only expired ones go.
        count = queryset.filter(expire_at__lte=timezone.now()).delete()[0]
        self.message_user(request, f"Purged {count} expired states.")
