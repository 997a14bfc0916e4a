"""What we store about each installation of the Slack app.

`Installation` and `Bot` mirror slack_sdk's `slack_installations` / `slack_bots` tables field for
field (one row per install, kept as history). `Workspace` is the operator's view: one row per
enterprise/team with its status. `InstallationEvent` is the audit trail. Tokens and webhook URLs are
encrypted at rest (installations.crypto).
"""

from django.db import models

from installations.crypto import EncryptedTextField


class WorkspaceQuerySet(models.QuerySet):
    def of(self, client_id, enterprise_id, team_id):
        """The workspace of slack_sdk-style ids (None for none; stored here as "")."""
        return self.filter(client_id=client_id, enterprise_id=enterprise_id or "", team_id=team_id or "")


class Workspace(models.Model):
    """One Slack workspace, or one Enterprise Grid org for org-wide installs (team_id is "")."""

    objects = WorkspaceQuerySet.as_manager()

    ACTIVE = "active"
    NEEDS_REINSTALL = "needs_reinstall"
    UNINSTALLED = "uninstalled"
    STATUS_CHOICES = [(ACTIVE, "Active"), (NEEDS_REINSTALL, "Needs reinstall"), (UNINSTALLED, "Uninstalled")]

    client_id = models.CharField(max_length=64)
    enterprise_id = models.CharField(max_length=32, blank=True, default="")
    team_id = models.CharField(max_length=32, blank=True, default="")
    enterprise_name = models.CharField(max_length=200, blank=True, default="")
    team_name = models.CharField(max_length=200, blank=True, default="")
    is_enterprise_install = models.BooleanField("org-wide", default=False)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=ACTIVE, db_index=True)
    status_reason = models.CharField(max_length=200, blank=True, default="")
    first_installed_at = models.DateTimeField(null=True)
    latest_installed_at = models.DateTimeField(null=True)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    # Held while one process refreshes this workspace's tokens (installations.rotation).
    refresh_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client_id", "enterprise_id", "team_id"], name="workspace_unique_ids")
        ]

    def __str__(self):
        if self.is_enterprise_install:
            return f"{self.enterprise_name or self.enterprise_id} (org-wide)"
        return self.team_name or self.team_id


class BotInstall(models.Model):
    """The columns slack_sdk's installations and bots tables share."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="%(class)ss")
    client_id = models.CharField(max_length=64)
    app_id = models.CharField(max_length=32, null=True)
    enterprise_id = models.CharField(max_length=32, null=True)
    enterprise_name = models.CharField(max_length=200, null=True)
    team_id = models.CharField(max_length=32, null=True)
    team_name = models.CharField(max_length=200, null=True)
    bot_token = EncryptedTextField(null=True)
    bot_id = models.CharField(max_length=32, null=True)
    bot_user_id = models.CharField(max_length=32, null=True)
    bot_scopes = models.TextField(null=True)
    bot_refresh_token = EncryptedTextField(null=True)
    bot_token_expires_at = models.DateTimeField(null=True)
    is_enterprise_install = models.BooleanField(default=False)
    custom_values = models.JSONField(default=dict)
    installed_at = models.DateTimeField()

    class Meta:
        abstract = True


class Installation(BotInstall):
    enterprise_url = models.CharField(max_length=200, null=True)
    user_id = models.CharField(max_length=32)
    user_token = EncryptedTextField(null=True)
    user_scopes = models.TextField(null=True)
    user_refresh_token = EncryptedTextField(null=True)
    user_token_expires_at = models.DateTimeField(null=True)
    incoming_webhook_url = EncryptedTextField(null=True)
    incoming_webhook_channel = models.CharField(max_length=200, null=True)
    incoming_webhook_channel_id = models.CharField(max_length=32, null=True)
    incoming_webhook_configuration_url = models.CharField(max_length=200, null=True)
    token_type = models.CharField(max_length=32, null=True)

    class Meta:
        indexes = [
            models.Index(fields=["client_id", "enterprise_id", "team_id", "installed_at"], name="inst_ws_idx"),
            models.Index(fields=["client_id", "enterprise_id", "team_id", "user_id", "installed_at"], name="inst_user_idx"),
        ]

    def __str__(self):
        return f"{self.team_name or self.enterprise_name} by {self.user_id}"


class Bot(BotInstall):
    class Meta:
        indexes = [models.Index(fields=["client_id", "enterprise_id", "team_id", "installed_at"], name="bot_ws_idx")]

    def __str__(self):
        return f"{self.bot_user_id} in {self.team_name or self.enterprise_name}"


class OAuthState(models.Model):
    state = models.CharField(max_length=64, unique=True)
    expire_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "OAuth state"


class InstallationEvent(models.Model):
    """The audit trail: what happened to a workspace's installation, by whom. Never a token."""

    INSTALLED = "installed"
    REINSTALLED = "reinstalled"
    SCOPES_CHANGED = "scopes_changed"
    REFRESHED = "refreshed"
    REFRESH_FAILED = "refresh_failed"
    REVOKED = "revoked"
    UNINSTALLED = "uninstalled"
    KIND_CHOICES = [
        (INSTALLED, "Installed"),
        (REINSTALLED, "Reinstalled"),
        (SCOPES_CHANGED, "Scopes changed"),
        (REFRESHED, "Token refreshed"),
        (REFRESH_FAILED, "Token refresh failed"),
        (REVOKED, "Tokens revoked"),
        (UNINSTALLED, "Uninstalled"),
    ]

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES, db_index=True)
    actor = models.CharField(max_length=100, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} — {self.workspace}"

    @classmethod
    def record(cls, workspace, kind, *, actor="", detail=""):
        """Add a line to the workspace's audit trail: the one way it is written (stores, rotation,
        uninstall, listeners). `workspace` None (never installed here) records nothing. Never pass a
        token in `detail`."""
        if workspace is None:
            return None
        from django.db import transaction

        from installations import metrics  # it reads the models' choices

        event = cls.objects.create(workspace=workspace, kind=kind, actor=actor, detail=detail)
        # Counted once committed: a rolled-back install counts nothing.
        transaction.on_commit(lambda: metrics.INSTALLATION_EVENTS.labels(kind).inc())
        return event
