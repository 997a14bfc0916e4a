from django.db import migrations

ENTERPRISES = [("E0INITECH1", "Initech Grid", "initech")]
# team_id, name, domain, enterprise_id, users, channels
WORKSPACES = [
    ("T0ACME0001", "Acme Corp", "acme", None,
     [("U0ACME0001", "Ada (admin)"), ("U0ACME0002", "Grace"), ("U0ACME0003", "Linus")],
     [("C0ACMEGEN1", "general"), ("C0ACMERND1", "random")]),
    ("T0GLOBEX01", "Globex", "globex", None,
     [("U0GLOBEX01", "Hank"), ("U0GLOBEX02", "Marge")],
     [("C0GLOBGEN1", "general")]),
    ("T0INIEAST1", "Initech East", "initech-east", "E0INITECH1",
     [("W0INITECH1", "Peter"), ("W0INITECH2", "Milton")],
     [("C0INIGEN01", "general")]),
]


def seed(apps, schema_editor):
    Enterprise = apps.get_model("sandbox", "Enterprise")
    Workspace = apps.get_model("sandbox", "Workspace")
    User = apps.get_model("sandbox", "User")
    Channel = apps.get_model("sandbox", "Channel")
    for enterprise_id, name, domain in ENTERPRISES:
        Enterprise.objects.create(enterprise_id=enterprise_id, name=name, domain=domain)
    for team_id, name, domain, enterprise_id, users, channels in WORKSPACES:
        workspace = Workspace.objects.create(team_id=team_id, name=name, domain=domain, enterprise_id=enterprise_id)
        for user_id, user_name in users:
            User.objects.create(user_id=user_id, name=user_name, workspace=workspace)
        for channel_id, channel_name in channels:
            Channel.objects.create(channel_id=channel_id, name=channel_name, workspace=workspace)


def unseed(apps, schema_editor):
    apps.get_model("sandbox", "Workspace").objects.all().delete()
    apps.get_model("sandbox", "Enterprise").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
