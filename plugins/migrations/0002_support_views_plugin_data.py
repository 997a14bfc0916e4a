"""The "support" group may view the plugin pages (storage keys without values, roles, missing
scopes), as it views the installations; giving or taking roles needs the add/delete permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ["plugindata", "rolegrant", "missingscope"]


def allow_support(apps, schema_editor):
    app_config = apps.get_app_config("plugins")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True  # as installations 0002: permissions are needed now
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = models_module

    Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="support")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="plugins", codename__in=[f"view_{model}" for model in MODELS])
    )


class Migration(migrations.Migration):
    dependencies = [("plugins", "0001_initial"), ("installations", "0002_support_group")]

    operations = [migrations.RunPython(allow_support, migrations.RunPython.noop)]
