from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from bolt_app import health, metrics_view, pages, views

urlpatterns = [
    path("", pages.home, name="home"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("slack/install", views.slack_oauth, name="slack_install"),
    path("slack/oauth_redirect", views.slack_oauth, name="slack_oauth_redirect"),
    path("slack/events", views.slack_events, name="slack_events"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

if settings.SLACK_SANDBOX:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
