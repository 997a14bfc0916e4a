"""Test a plugin through the sandbox: a made-up workspace with the app installed, its people, and what
the bot posted back, over the same signed HTTP requests Slack sends.

In a pytest suite (pytest-django), load the fixtures with `pytest_plugins = ["sandbox.testing"]` in
`conftest.py`, then:

    def test_ping(slack_workspace):
        replies = slack_workspace.say("ping")
        assert replies[0].text == "pong"

`slack_workspace` is a `SandboxWorkspace` on pytest-django's live server: `say`, `dm`, `command` and
`click` act as one of its people and wait for the bot's answer (a `Posted`: text, blocks, channel,
thread, ephemeral person). Outside pytest, `SandboxWorkspace.create(service_url).install()` does the same.
"""

import html
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import requests
from django.utils import timezone

from sandbox import people
from sandbox.ids import dm_channel_id, random_part
from sandbox.models import Channel, Message, User, Workspace

TIMEOUT = 10.0


@dataclass
class Posted:
    """One message of the bot, as the sandbox holds it after the bot's calls."""

    text: str
    blocks: list
    ts: str
    channel: str
    thread_ts: str = ""
    ephemeral_user: str = ""  # set when only that person sees it
    scheduled_for: object = None  # a datetime while the message waits for its time (chat.scheduleMessage)
    deleted: bool = False
    reactions: list = field(default_factory=list)

    @classmethod
    def of(cls, message: Message):
        return cls(
            text=message.text, blocks=message.blocks, ts=message.ts, channel=message.channel,
            thread_ts=message.thread_ts, ephemeral_user=message.ephemeral_user,
            scheduled_for=message.post_at if message.kind == Message.SCHEDULED else None,
            deleted=message.is_deleted, reactions=[r.name for r in message.reactions.all()],
        )

    def action_ids(self):
        """The action_ids of the buttons and selects in this message, in order."""
        found = []
        for block in self.blocks:
            elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory")]
            found += [e["action_id"] for e in elements if isinstance(e, dict) and e.get("action_id")]
        return found


class SandboxWorkspace:
    """A workspace of the sandbox, driven the way its people use Slack."""

    def __init__(self, service_url, team_id):
        self.service_url = service_url.rstrip("/")
        self.workspace = Workspace.objects.get(pk=team_id)
        self.team_id = team_id
        people_here = list(self.workspace.users.order_by("user_id"))
        self.installer, self.person = people_here[0], people_here[-1]
        self.general = self.workspace.channels.filter(im_user=None).order_by("channel_id").first().channel_id

    @classmethod
    def create(cls, service_url, name="Testing Co", people_names=("Ada", "Grace"), channels=("general", "random")):
        """A made-up workspace of its own (fresh ids, so tests never share one). The first person is an
        admin, and installs the app in `install()`."""
        suffix = random_part(8).upper()
        workspace = Workspace.objects.create(team_id=f"T{suffix}", name=name, domain=f"testing-{suffix.lower()}")
        for number, person in enumerate(people_names, start=1):
            User.objects.create(user_id=f"U{suffix}{number}", name=person, workspace=workspace, is_admin=number == 1,
                                email=f"{person.split()[0].lower()}@{workspace.domain}.example")
        for number, channel in enumerate(channels, start=1):
            Channel.objects.create(channel_id=f"C{suffix}{number}", name=channel, workspace=workspace)
        return cls(service_url, workspace.team_id)

    # --- installing ------------------------------------------------------------------------------

    def install(self, scopes=None):
        """Install the app as `installer` through the service's "Add to Slack", the sandbox's consent and
        the service's OAuth callback. `scopes` (bot scopes) replaces what the service asks for, as an
        older installation that lacks a newer scope would have."""
        with requests.Session() as browser:
            page = browser.get(f"{self.service_url}/slack/install", allow_redirects=False, timeout=TIMEOUT)
            authorize = page.headers.get("Location") or _authorize_link(page.text)
            consent_url = urljoin(self.service_url + "/", authorize)
            if scopes is not None:
                consent_url = _with_query(consent_url, scope=",".join(scopes))
            consent = browser.get(consent_url, params={"team": self.team_id}, timeout=TIMEOUT)
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', consent.text).group(1)
            answer = browser.post(
                consent.url, data={"csrfmiddlewaretoken": csrf, "target": self.team_id, "decision": "allow",
                                   "user": f"{self.team_id}:{self.installer.user_id}"},
                allow_redirects=False, timeout=TIMEOUT,
            )
            assert answer.status_code == 302, f"The sandbox's consent page refused: {answer.text[:500]}"
            done = browser.get(urljoin(consent.url, answer.headers["Location"]), allow_redirects=False, timeout=TIMEOUT)
        assert done.status_code == 200, f"The service's OAuth callback answered {done.status_code}: {done.text[:500]}"
        assert self.workspace.app_bot_token(), "The service finished the install, but no token was issued."
        return self

    def uninstall(self):
        """Remove the app from the workspace, as an admin does in Slack (Slack then tells the app)."""
        return people.uninstall(self.service_url, self.team_id)

    @property
    def bot_user_id(self):
        return self.workspace.app_identity()[1]

    def mention(self, text=""):
        """`text` starting with a mention of the bot, as Slack writes it."""
        return f"<@{self.bot_user_id}> {text}".strip()

    # --- acting as a person, and waiting for the bot ----------------------------------------------

    def say(self, text, channel=None, as_user=None, thread_ts=None, replies=1, timeout=TIMEOUT):
        """Post `text` in `channel` (default #general) and return the bot's first `replies` messages
        posted since (waits for them; fails the test with what the app was told if none come)."""
        user = as_user or self.person.user_id
        return self._then_wait(lambda: people.post_message(
            self.service_url, self.team_id, user, channel or self.general, text, thread_ts=thread_ts), replies, timeout)

    def dm(self, text, as_user=None, replies=1, timeout=TIMEOUT):
        """Post `text` in the person's DM with the bot."""
        user = as_user or self.person.user_id
        return self.say(text, channel=dm_channel_id(user), as_user=user, replies=replies, timeout=timeout)

    def command(self, command, text="", channel=None, as_user=None, replies=1, timeout=TIMEOUT):
        """Run a slash command; its answers (ephemeral by default) come back like any other message."""
        user = as_user or self.person.user_id
        return self._then_wait(lambda: people.run_command(
            self.service_url, self.team_id, user, channel or self.general, command, text), replies, timeout)

    def click(self, message, action_id, value=None, as_user=None, replies=1, timeout=TIMEOUT):
        """Click the button `action_id` (or pick `value` in a select) of `message` (a `Posted` or a ts).
        Returns the bot's messages changed or posted since: a message replaced through response_url comes
        back with its new text."""
        ts = message.ts if isinstance(message, Posted) else message
        user = as_user or self.person.user_id
        return self._then_wait(lambda: people.click(
            self.service_url, self.team_id, user, ts, action_id, value=value), replies, timeout)

    def bot_messages(self, since=None):
        """Everything the bot has posted here (changed since `since`, a datetime, if given)."""
        Message.objects.deliver_due()
        messages = Message.objects.filter(workspace=self.workspace).exclude(bot_id="").prefetch_related("reactions")
        if since is not None:
            messages = messages.filter(updated_at__gte=since)
        return [Posted.of(m) for m in messages.order_by("updated_at", "id")]

    def _then_wait(self, act, replies, timeout):
        started = timezone.now()
        status = act()
        assert status is not None, f"The app is not installed in {self.workspace.name}: nothing was sent."
        assert status == 200, f"The service answered HTTP {status}: {self.told()[:1]}"
        deadline = time.monotonic() + timeout
        while True:
            posted = self.bot_messages(since=started)
            if len(posted) >= replies or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(posted) >= replies, (
            f"The app posted {len(posted)} of {replies} expected message(s) within {timeout:.0f} s. "
            f"Last request it was told: {self.told()[:1]}"
        )
        return posted

    def told(self):
        """What the app was told, newest first: (what, HTTP status, answer)."""
        return [(d.what, d.status, d.answer[:300]) for d in self.workspace.deliveries.all()]


def _authorize_link(page_html):
    found = re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', page_html)
    assert found, "The service's install page has no link to Slack's consent page."
    return html.unescape(found.group(1))


def _with_query(url, **changes):
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


try:
    import pytest
except ImportError:  # sandbox.testing outside a test run: no fixtures
    pytest = None

if pytest is not None:

    @pytest.fixture
    def slack_sandbox(live_server, settings, transactional_db):
        """Point the service at the sandbox on the live server (as `make run` does); returns the base URL."""
        settings.SLACK_API_URL = f"{live_server.url}/sandbox/api/"
        settings.SLACK_AUTHORIZE_URL = "/sandbox/oauth/v2/authorize"
        return live_server.url

    @pytest.fixture
    def slack_workspace(slack_sandbox):
        """A made-up workspace (Ada, an admin who installed the app, and Grace; #general and #random)
        with the app installed with the scopes the service asks for."""
        return SandboxWorkspace.create(slack_sandbox).install()
