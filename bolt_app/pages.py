"""The service's own pages outside the install flow: the home page and the favicon."""

from functools import lru_cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from bolt_app.oauth import branding


@require_safe
def home(request):
    """What this service is and where to go: install the app, the operator console, the sandbox."""
    return render(request, "home.html", branding())


@lru_cache(maxsize=1)
def _favicon():
    with open(finders.find("favicon.ico") or settings.BASE_DIR / "static" / "favicon.ico", "rb") as icon:
        return icon.read()


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on every page that names no icon (Django's admin among them)."""
    response = HttpResponse(_favicon(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
