from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class InstallationsConfig(AppConfig):
    name = "installations"
    verbose_name = "Slack installations"

    def ready(self):
        from django.db.models.signals import post_save

        from installations import metrics
        from installations.models import InstallationEvent

        # Installs, uninstalls and refreshes are counted from the audit trail each of them writes.
        post_save.connect(metrics.count_installation_event, sender=InstallationEvent, dispatch_uid="metrics")


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin, built as the operator console (installations/console.py); listed in
    INSTALLED_APPS in place of "django.contrib.admin"."""

    default = False  # not the "installations" app's own config
    default_site = "installations.console.ConsoleSite"
