from django import forms

from sandbox.models import Enterprise, User, Workspace


class ConsentForm(forms.Form):
    """Where to install the app and as whom: a workspace, or an Enterprise Grid org as a whole.

    "Install as" lists the people of the chosen target only (Slack's consent page is signed in to one
    workspace); the page's script swaps the list when the target changes.
    """

    target = forms.ChoiceField(label="Install on")
    user = forms.ChoiceField(label="Install as")

    def __init__(self, *args, target=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = [(w.team_id, f"{w.name} ({w.domain}.slack.com)") for w in Workspace.objects.all()] + [
            (e.enterprise_id, f"{e.name} — entire organization") for e in Enterprise.objects.all()
        ]
        self.fields["target"].choices = self.targets
        chosen = target if target in dict(self.targets) else (self.targets[0][0] if self.targets else None)
        self.fields["target"].initial = chosen
        self.people = by_target = self.people_by_target()
        # Anyone is a valid answer (clean() then says who may install where); only the target's are shown.
        self.fields["user"].choices = sorted({choice for choices in by_target.values() for choice in choices})
        self.fields["user"].widget.choices = by_target.get(chosen, [])

    def people_by_target(self):
        """For each target, its people as (value, label) choices."""
        people = User.objects.select_related("workspace").order_by("workspace__name", "user_id")
        by_target = {}
        for user in people:
            choice = (f"{user.workspace_id}:{user.user_id}", user.name)
            by_target.setdefault(user.workspace_id, []).append(choice)
            if user.workspace.enterprise_id:
                by_target.setdefault(user.workspace.enterprise_id, []).append(
                    (choice[0], f"{user.name} ({user.workspace.name})"))
        return by_target

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
