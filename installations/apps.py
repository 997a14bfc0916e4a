from django.apps import AppConfig


class InstallationsConfig(AppConfig):
    name = "installations"
    verbose_name = "Slack installations"

    def ready(self):
        from django.db.models.signals import post_save

        from installations import metrics
        from installations.models import InstallationEvent

        # Installs, uninstalls and refreshes are counted from the audit trail each of them writes.
        post_save.connect(metrics.count_installation_event, sender=InstallationEvent, dispatch_uid="metrics")
