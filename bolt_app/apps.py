from django.apps import AppConfig


class BoltAppConfig(AppConfig):
    name = "bolt_app"
    verbose_name = "Slack app"
