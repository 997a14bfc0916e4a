"""What plugins keep in the database: storage values, roles and the scopes a workspace lacks.

`plugins.models.user.User` and `plugins.models.channel.Channel` (Slack Machine's import paths) are
plain data classes describing Slack's objects, not database tables.
"""

from django.db import models

from installations.models import Workspace


class StoredValue(models.Model):
    """One key of plugin storage (the database backend). `key` is fully namespaced:
    `<workspace>|<plugin class path or "shared">:<key>`, so a workspace's keys share a prefix."""

    key = models.CharField(max_length=400, unique=True)
    value = models.BinaryField()
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "plugin storage key"

    def __str__(self):
        return self.key


class RoleGrant(models.Model):
    """A role given to a person of a workspace (the `roles` plugin or the admin). Whoever installed
    the app and the workspace's admins and owners are `admin` without a grant."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="role_grants")
    # The workspace the role holds in: the installation's own team, or, for an org-wide install, the
    # one workspace of the org it was given in (roles are per workspace, never org-wide).
    team_id = models.CharField(max_length=32)
    user_id = models.CharField(max_length=32)
    role = models.CharField(max_length=64)
    granted_by = models.CharField(max_length=100, blank=True, default="")
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "team_id", "user_id", "role"], name="one_grant_per_role")
        ]
        ordering = ["role", "user_id"]

    def __str__(self):
        return f"{self.user_id}: {self.role}"


class MissingScope(models.Model):
    """A bot scope a plugin needs that the workspace's installation lacks: seen when the install's
    scopes fall short of a plugin's declared `scopes`, or when Slack refused a call `missing_scope`.
    Cleared by the next install of the workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="missing_scopes")
    scope = models.CharField(max_length=100)
    plugin = models.CharField(max_length=200)
    first_seen = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "scope", "plugin"], name="one_row_per_missing_scope")]
        ordering = ["scope"]

    def __str__(self):
        return f"needs {self.scope}"


class PluginData(Workspace):
    """A workspace as the console's "Plugin data" pages show it: storage keys, roles, missing scopes."""

    class Meta:
        proxy = True
        verbose_name = "workspace's plugin data"
        verbose_name_plural = "plugin data"
