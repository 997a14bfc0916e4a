from django.apps import AppConfig


class PluginsConfig(AppConfig):
    name = "plugins"
    verbose_name = "Plugins"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Storage of a workspace goes with it (README: "Plugin storage and retention").
        from plugins import signals  # noqa: F401
