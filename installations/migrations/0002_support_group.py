"""The "support" staff group: view permissions on the installations models, nothing else.

Its members browse the operator console (and export the list) but cannot refresh, uninstall or purge:
those actions need the change and delete permissions (installations/admin.py).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_GROUP = "support"
MODELS = ["workspace", "installation", "bot", "oauthstate", "installationevent"]


def create_support_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); this one needs them now.
    app_config = apps.get_app_config("installations")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True  # the migration state's app configs have none
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = models_module

    Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="installations", codename__in=[f"view_{model}" for model in MODELS]
        )
    )


def delete_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=SUPPORT_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("installations", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_support_group, delete_support_group)]
