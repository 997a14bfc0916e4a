from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """Django's admin, built as the operator console (config/console.py); listed in INSTALLED_APPS
    in place of "django.contrib.admin"."""

    default_site = "config.console.ConsoleSite"
