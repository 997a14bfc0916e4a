from django import forms

from sandbox.models import Enterprise, User, Workspace


class ConsentForm(forms.Form):
    """Where to install the app and as whom: a workspace, or an Enterprise Grid org as a whole."""

    target = forms.ChoiceField(label="Install on")
    user = forms.ChoiceField(label="Install as")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [
            (w.team_id, f"{w.name} ({w.domain}.slack.com)") for w in Workspace.objects.all()
        ] + [(e.enterprise_id, f"{e.name} — entire organization") for e in Enterprise.objects.all()]
        self.fields["user"].choices = [
            (f"{u.workspace_id}:{u.user_id}", f"{u.workspace.name} — {u.name}")
            for u in User.objects.select_related("workspace").order_by("workspace__name", "user_id")
        ]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        user = User.objects.select_related("workspace").get(pk=cleaned["user"].partition(":")[2])
        enterprise = Enterprise.objects.filter(pk=cleaned["target"]).first()
        workspace = None if enterprise else Workspace.objects.get(pk=cleaned["target"])
        if user.workspace != workspace and (enterprise is None or user.workspace.enterprise != enterprise):
            raise forms.ValidationError("Pick a person from the workspace or organization you install on.")
        return {**cleaned, "workspace": workspace, "enterprise": enterprise, "user": user}
