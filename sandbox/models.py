"""The sandbox's stand-in for Slack's own data: workspaces, people, grants, tokens, messages."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Enterprise(models.Model):
    """An Enterprise Grid org: the app can be installed org-wide, on all its workspaces at once."""

    enterprise_id = models.CharField(max_length=20, primary_key=True)
    name = models.CharField(max_length=100)
    domain = models.CharField(max_length=100)

    def __str__(self):
        return self.name

    @property
    def url(self):
        return f"https://{self.domain}.enterprise.slack.com/"


class Workspace(models.Model):
    team_id = models.CharField(max_length=20, primary_key=True)
    name = models.CharField(max_length=100)
    domain = models.CharField(max_length=100)
    enterprise = models.ForeignKey(Enterprise, null=True, blank=True, on_delete=models.CASCADE)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def url(self):
        return f"https://{self.domain}.slack.com/"

    def app_bot_token(self):
        """The app's bot token here: its own install, else its org's org-wide install, else None.

        An expired token still counts: the installation stands and the service refreshes it.
        """
        bots = Token.objects.filter(kind=Token.BOT, revoked=False).order_by("-created_at")
        own = bots.filter(workspace=self).first()
        if own or not self.enterprise_id:
            return own
        return bots.filter(enterprise=self.enterprise_id).first()


class User(models.Model):
    user_id = models.CharField(max_length=20, primary_key=True)
    name = models.CharField(max_length=100)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="users")

    def __str__(self):
        return self.name


class Channel(models.Model):
    channel_id = models.CharField(max_length=20, primary_key=True)
    name = models.CharField(max_length=80)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="channels")


class InstalledOn(models.Model):
    """Where a grant or token applies: one workspace, or (org-wide install) a whole Enterprise Grid org."""

    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.CASCADE)
    enterprise = models.ForeignKey(Enterprise, null=True, blank=True, on_delete=models.CASCADE)
    # The person who installed the app; for a user token, the token's owner.
    user = models.ForeignKey(User, on_delete=models.CASCADE)

    class Meta:
        abstract = True

    @property
    def is_enterprise_install(self):
        return self.workspace_id is None

    @property
    def installed_on(self):
        return self.enterprise if self.is_enterprise_install else self.workspace

    @property
    def team_id(self):
        """The workspace's id, or the org's for an org-wide install (as auth.test reports it)."""
        return self.installed_on.pk

    @property
    def org(self):
        return self.enterprise if self.is_enterprise_install else self.workspace.enterprise

    def workspaces(self):
        if self.is_enterprise_install:
            return Workspace.objects.filter(enterprise=self.enterprise_id)
        return Workspace.objects.filter(pk=self.workspace_id)


class AuthorizationCode(InstalledOn):
    """What the consent page grants; oauth.v2.access trades it for tokens, once, within 10 minutes."""

    code = models.CharField(max_length=80, unique=True)
    client_id = models.CharField(max_length=100)
    bot_scopes = models.TextField(blank=True)
    user_scopes = models.TextField(blank=True)
    redirect_uri = models.TextField(blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class TokenQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked=False).filter(Q(expires_at=None) | Q(expires_at__gt=timezone.now()))


class Token(InstalledOn):
    BOT, USER = "bot", "user"

    token = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=4, choices=[(BOT, "bot"), (USER, "user")])
    scopes = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token = models.CharField(max_length=120, unique=True, null=True, blank=True)
    refresh_token_used = models.BooleanField(default=False)
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TokenQuerySet.as_manager()

    def __str__(self):
        return f"{self.kind} token for {self.team_id}"


class Message(models.Model):
    MESSAGE, EPHEMERAL = "message", "ephemeral"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=20)
    text = models.TextField(blank=True)
    kind = models.CharField(max_length=9, choices=[(MESSAGE, "message"), (EPHEMERAL, "ephemeral")], default=MESSAGE)
    ephemeral_user = models.CharField(max_length=20, blank=True)
    thread_ts = models.CharField(max_length=20, blank=True)
    ts = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ApiCall(models.Model):
    """One Web API call the service made; tests count these (it works across processes)."""

    method = models.CharField(max_length=60)
    grant_type = models.CharField(max_length=30, blank=True)
    team_id = models.CharField(max_length=20, blank=True)
    ok = models.BooleanField()
    error = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
