"""The sandbox's stand-in for Slack's own data: workspaces, people, grants, tokens, messages."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from sandbox.ids import APP_ID, bot_id, bot_user_id, new_ts


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

    def app_identity(self, bot_token=None):
        """(is_enterprise_install, the bot's user id, its bot id) as Slack reports them here."""
        bot = bot_token or self.app_bot_token()
        org_wide = bool(bot and bot.is_enterprise_install)
        installed_on = self.enterprise_id if org_wide else self.team_id
        return org_wide, bot_user_id(installed_on), bot_id(installed_on)


class User(models.Model):
    user_id = models.CharField(max_length=20, primary_key=True)
    name = models.CharField(max_length=100)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="users")
    email = models.EmailField(blank=True)
    is_admin = models.BooleanField(default=False)

    class Meta:
        ordering = ["user_id"]

    def __str__(self):
        return self.name

    @property
    def handle(self):
        """The person's @name, as Slack's `name` field has it."""
        return self.name.split()[0].lower()

    @property
    def email_address(self):
        # People made without one (the bench's, a test's) still get a unique address.
        return self.email or f"{self.user_id.lower()}@{self.workspace.domain}.example"


class Channel(models.Model):
    channel_id = models.CharField(max_length=20, primary_key=True)
    name = models.CharField(max_length=80)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="channels")
    topic = models.CharField(max_length=250, blank=True)
    # Set on a DM between the app's bot and this person (channel id `D…`, made on first use).
    im_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["channel_id"]

    def __str__(self):
        return f"#{self.name}" if not self.is_im else f"DM with {self.im_user_id}"

    @property
    def is_im(self):
        return self.im_user_id is not None


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


class MessageQuerySet(models.QuerySet):
    def deliver_due(self):
        """Scheduled messages whose time has come become messages, with the ts of that moment.

        Slack posts them itself at `post_at`; the sandbox does it whenever someone looks (the pages'
        polling, the Web API's reads, sandbox.testing), which a reader cannot tell apart.
        """
        due = self.filter(kind=Message.SCHEDULED, post_at__lte=timezone.now()).order_by("post_at", "id")
        for pk in due.values_list("pk", flat=True):
            # Conditional: two readers at once deliver each message once.
            self.filter(pk=pk, kind=Message.SCHEDULED).update(kind=Message.MESSAGE, ts=new_ts(), updated_at=timezone.now())

    def visible(self):
        """What a channel shows (ephemeral ones to their person only, which the caller filters)."""
        return self.exclude(kind=Message.SCHEDULED)


class Message(models.Model):
    MESSAGE, EPHEMERAL, SCHEDULED = "message", "ephemeral", "scheduled"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=20)
    # Who posted it: a person's id, or the app's bot user (then bot_id is set too).
    user = models.CharField(max_length=20, blank=True)
    bot_id = models.CharField(max_length=20, blank=True)
    text = models.TextField(blank=True)
    blocks = models.JSONField(default=list, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    kind = models.CharField(
        max_length=9, choices=[(MESSAGE, "message"), (EPHEMERAL, "ephemeral"), (SCHEDULED, "scheduled")], default=MESSAGE
    )
    ephemeral_user = models.CharField(max_length=20, blank=True)
    thread_ts = models.CharField(max_length=20, blank=True)
    # Empty while scheduled: a scheduled message gets its ts when it is posted.
    ts = models.CharField(max_length=20, blank=True)
    post_at = models.DateTimeField(null=True, blank=True)
    scheduled_message_id = models.CharField(max_length=20, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    pinned_by = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Any change (edit, replacement, deletion, delivery when scheduled): what the pages and tests poll.
    updated_at = models.DateTimeField(auto_now=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "channel", "ts"])]

    def __str__(self):
        return f"{self.channel} {self.ts}: {self.text[:40]}"

    @property
    def is_deleted(self):
        return self.deleted_at is not None

    def as_slack(self, new=False) -> dict:
        """The message as Slack's API and events show it (`new`: just posted, so no reactions to read)."""
        body = {"type": "message", "text": self.text, "user": self.user, "ts": self.ts, "team": self.workspace_id}
        if self.bot_id:
            body.update(bot_id=self.bot_id, app_id=APP_ID)
        if self.blocks:
            body["blocks"] = self.blocks
        if self.attachments:
            body["attachments"] = self.attachments
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.edited_at:
            body["edited"] = {"user": self.user, "ts": f"{self.edited_at.timestamp():.6f}"}
        reactions = {}
        for reaction in [] if new else self.reactions.all():
            reactions.setdefault(reaction.name, []).append(reaction.user)
        if reactions:
            body["reactions"] = [{"name": name, "users": users, "count": len(users)} for name, users in reactions.items()]
        if self.pinned_by:
            body["pinned_to"] = [self.channel]
        return body


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    name = models.CharField(max_length=100)
    user = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["message", "name", "user"], name="one_reaction_per_person")]


class Delivery(models.Model):
    """One request the sandbox sent to the service as Slack (an event, a command, a click), and the answer.

    The sandbox page shows these as the log of what the app was told.
    """

    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    what = models.CharField(max_length=100)
    url = models.TextField()
    body = models.TextField()
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    answer = models.TextField(blank=True)
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
