from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class InstallationsConfig(AppConfig):
    name = "installations"
    verbose_name = "Slack installations"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin, built as the operator console (installations/console.py); listed in
    INSTALLED_APPS in place of "django.contrib.admin"."""

    default = False  # not the "installations" app's own config
    default_site = "installations.console.ConsoleSite"
