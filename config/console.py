"""The operator console's `AdminSite`: its titles, its index counts, a throttled login, "View site".

Django builds it as `admin.site` through `config.apps.ConsoleAdminConfig.default_site`, so every
app's `admin.register` (installations, plugins, background, the sandbox) lands here: the site is the
project's, the model pages are each app's (installations/admin.py).
"""

import hashlib
import logging
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import get_fields_from_path
from django.core.cache import caches
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from bolt_app.throttle import client_ip
from installations import models

logger = logging.getLogger(__name__)


class LoginThrottle:
    """Failed log-ins counted per username and client address (the install page's notion of the
    client, behind the proxy too) in Django's cache (Redis in production, so every worker shares the
    count). Past the limit, that pair is refused until the window that started with its first failure
    ends. A cache outage never locks anyone out."""

    def __init__(self, username, address):
        digest = hashlib.sha256(f"{(username or '').casefold()}\n{address}".encode()).hexdigest()[:32]
        self.key = f"admin-login-failures:{digest}"
        self.cache = caches["default"]

    def refused(self):
        try:
            return (self.cache.get(self.key) or 0) >= settings.ADMIN_LOGIN_MAX_FAILURES
        except Exception as error:
            logger.warning("Login throttle unavailable: %s", type(error).__name__)
            return False

    def failed(self):
        try:
            # add() starts the window; incr() keeps its expiry.
            self.cache.add(self.key, 0, timeout=settings.ADMIN_LOGIN_WINDOW_SECONDS)
            self.cache.incr(self.key)
        except Exception as error:  # includes the key expiring between add and incr
            logger.warning("Login throttle unavailable: %s", type(error).__name__)

    def succeeded(self):
        try:
            self.cache.delete(self.key)
        except Exception as error:
            logger.warning("Login throttle unavailable: %s", type(error).__name__)


class ThrottledLoginForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": "Too many failed log-in attempts for this username. Try again in %(minutes)d minutes.",
    }

    def clean(self):
        throttle = LoginThrottle(self.cleaned_data.get("username"), client_ip(self.request))
        if throttle.refused():
            # Checked before the password: a locked-out pair learns nothing from further guesses.
            raise ValidationError(
                self.error_messages["throttled"], code="throttled",
                params={"minutes": -(-settings.ADMIN_LOGIN_WINDOW_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            throttle.failed()
            raise
        throttle.succeeded()
        return cleaned


# The query parameters Django's own list filters use (`status__exact`, `installed_at__gte`, ...).
FIELD_FILTER_LOOKUPS = ("exact", "isnull", "isempty", "gte", "lt")


class ConsoleGuards:
    """Mixed into every model page the console registers, whichever app it comes from.

    - A list accepts only the query parameters its own filters use, plus `console_lookups` (for the
      console's own links). Django would otherwise filter on any column with any lookup
      (`?state__regex=^a`, `?password__startswith=`): a way to read, one character at a time, values
      the pages never show. Any other parameter is a 400.
    - An action sent with a selection that is not a list of row ids (`abc`, a number past the
      column's range) is refused with a message, before Django's `pk__in` filter fails on it.
    """

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.offered_lookups(request)

    def offered_lookups(self, request):
        offered = set(getattr(self, "console_lookups", ()))  # first in the MRO: never shadow the page's own
        for item in self.get_list_filter(request) if request is not None else self.list_filter:
            if isinstance(item, type) and issubclass(item, admin.ListFilter):
                offered.add(getattr(item, "parameter_name", None))
                continue
            path = item[0] if isinstance(item, (list, tuple)) else item
            offered.update(f"{path}__{suffix}" for suffix in FIELD_FILTER_LOOKUPS)
            try:
                field = get_fields_from_path(self.model, path)[-1]
            except FieldDoesNotExist:
                continue
            if field.is_relation and field.target_field is not None:  # RelatedFieldListFilter's parameter
                offered.add(f"{path}__{field.target_field.name}__exact")
        return offered

    def response_action(self, request, queryset):
        pk = self.opts.pk
        try:
            for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
                pk.clean(value, None)
        except ValidationError:
            self.message_user(request, "That selection is not valid: choose rows with their checkboxes.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class ConsoleSite(admin.AdminSite):
    site_header = "slackhub"
    site_title = "slackhub console"
    index_title = "Operator console"
    site_url = "/"  # the home page (bolt_app/pages.py)
    # The index lists every model; without the sidebar the workspace list fits 1280 px unscrolled.
    enable_nav_sidebar = False
    login_form = ThrottledLoginForm

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ConsoleGuards):
            admin_class = type(admin_class.__name__, (ConsoleGuards, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)

    def index(self, request, extra_context=None):
        """The admin index with the console's counts (templates/admin/index.html shows them)."""
        if request.user.has_perm("installations.view_workspace"):
            extra_context = {"console_counts": console_counts(), **(extra_context or {})}
        return super().index(request, extra_context)


def console_counts():
    """What an operator checks first; each count links to the list behind it."""
    Event, Workspace = models.InstallationEvent, models.Workspace
    since = timezone.now() - timedelta(days=7)
    events = Event.objects.filter(created_at__gte=since)
    events_url = reverse("admin:installations_installationevent_changelist")
    workspaces_url = reverse("admin:installations_workspace_changelist")

    def recent(*kinds):
        query = {"kind__in": ",".join(kinds), "created_at__gte": since.isoformat(timespec="seconds")}
        return events.filter(kind__in=kinds).count(), f"{events_url}?{urlencode(query)}"

    return [
        ("active", "Active workspaces", Workspace.objects.filter(status=Workspace.ACTIVE).count(),
         f"{workspaces_url}?status__exact={Workspace.ACTIVE}"),
        ("installs", "Installs, last 7 days", *recent(Event.INSTALLED, Event.REINSTALLED, Event.SCOPES_CHANGED)),
        ("uninstalls", "Uninstalls, last 7 days", *recent(Event.UNINSTALLED)),
        ("refresh_failures", "Refresh failures, last 7 days", *recent(Event.REFRESH_FAILED)),
        ("needs_reinstall", "Needs reinstall now", Workspace.objects.filter(status=Workspace.NEEDS_REINSTALL).count(),
         f"{workspaces_url}?status__exact={Workspace.NEEDS_REINSTALL}"),
    ]
