from django.apps import AppConfig


class InstallationsConfig(AppConfig):
    name = "installations"
    verbose_name = "Slack installations"
