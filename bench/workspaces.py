"""The bench's workspaces: created in the sandbox (Slack's side), then installed in the app.

`Browser.install` installs the way a person does, over HTTP: the app's "Add to Slack" page, the
sandbox's consent form, the app's OAuth callback (which exchanges the code with the sandbox's
oauth.v2.access and saves through the app's installation store). `install_in_bulk` writes the same
rows directly, for counts where OAuth would take hours.
"""

import html
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bench import ids
from installations import crypto
from installations import models as app_models
from sandbox import models as slack
from sandbox.ids import bot_id, bot_user_id

BATCH = 5000


def batches(first, count):
    for start in range(first, first + count, BATCH):
        yield range(start, min(start + BATCH, first + count))


def insert(model, rows, **constant):
    """INSERT `rows` (dicts of values as the database takes them) plus the `constant` values (Python
    values, prepared once by their fields) in one executemany. bulk_create prepares every value of
    every row, which at 100k installations is minutes."""
    if not rows:
        return
    fields = {field.name: field for field in model._meta.concrete_fields}
    names = [*constant, *rows[0]]
    prepared = [fields[name].get_db_prep_save(value, connection) for name, value in constant.items()]
    columns = ", ".join(connection.ops.quote_name(fields[name].column) for name in names)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(names))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [prepared + list(row.values()) for row in rows])


def create_in_sandbox(first, count):
    """Workspaces first..first+count-1 on Slack's side, each with its first person and one channel."""
    for indexes in batches(first, count):
        with transaction.atomic():
            insert(slack.Workspace, [{"team_id": ids.team_id(i), "name": f"Bench {i}", "domain": f"bench-{i}"} for i in indexes])
            add_people(indexes, range(1))
            insert(
                slack.Channel,
                [{"channel_id": ids.channel_id(i), "workspace": ids.team_id(i)} for i in indexes],
                name="general",
                topic="",
            )


def add_people(indexes, people):
    insert(
        slack.User,
        [
            {"user_id": ids.user_id(i, p), "name": f"Person {p} of {i}", "workspace": ids.team_id(i)}
            for i in indexes
            for p in people
        ],
        email="",
        is_admin=False,
    )


def join_workspaces(first, count, users):
    """Everyone but the installer joins after the install (the sandbox's consent form lists every
    person it knows, and costs it CPU for each)."""
    for indexes in batches(first, count):
        with transaction.atomic():
            add_people(indexes, range(1, users))


class Browser:
    """A person installing the app on one workspace after another, as in tests/helpers.py.

    The sandbox's consent page lists every workspace and person it knows (0.4 s of CPU to render at
    1000 workspaces), so it is opened once, for its CSRF token; each install still posts the consent
    form, which is where the sandbox issues the authorization code.
    """

    def __init__(self, app_url):
        self.app_url = app_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.csrf = None

    def install(self, index):
        page = self.session.get(f"{self.app_url}/slack/install", timeout=30)
        page.raise_for_status()
        href = re.search(r'id="add-to-slack" href="([^"]+)"', page.text).group(1)
        consent_url = urljoin(self.app_url, html.unescape(href))
        if self.csrf is None:
            consent = self.session.get(consent_url, timeout=30)
            consent.raise_for_status()
            self.csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', consent.text).group(1)
        team = ids.team_id(index)
        answer = self.session.post(
            consent_url,
            data={"csrfmiddlewaretoken": self.csrf, "target": team, "user": f"{team}:{ids.user_id(index, 0)}", "decision": "allow"},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"consent for {team} answered {answer.status_code}")
        done = self.session.get(answer.headers["Location"], allow_redirects=False, timeout=30)
        if done.status_code != 200:
            raise RuntimeError(f"OAuth callback for {team} answered {done.status_code}: {done.text[:300]}")


def install_all_over_oauth(app_url, first, count, browsers):
    """Install workspaces first..first+count-1, each by its person 0, from `browsers` in parallel."""

    def install_share(share):
        browser = Browser(app_url)
        for index in range(first + share, first + count, browsers):
            browser.install(index)

    with ThreadPoolExecutor(browsers) as pool:
        list(pool.map(install_share, range(browsers)))


def install_in_bulk(first, count, users):
    """Workspaces first..first+count-1, created in the sandbox and installed in the app by writing
    the rows an OAuth install writes (the sandbox's bot token; the app's Workspace, Installation, Bot
    and audit event), copied from workspace 0's OAuth install with only ids, names and tokens
    changed, tokens encrypted as the app encrypts them."""
    template = app_models.Installation.objects.filter(team_id=ids.team_id(0)).first()
    if template is None:
        raise RuntimeError("install_in_bulk copies an OAuth install: install workspace 0 over OAuth first")
    bot_template = app_models.Bot.objects.filter(team_id=template.team_id).first()
    installed_at = timezone.now()
    for indexes in batches(first, count):
        tokens = {i: f"xoxb-{secrets.token_hex(6)}-{secrets.token_hex(12)}" for i in indexes}
        with transaction.atomic():
            create_in_sandbox(indexes.start, len(indexes))
            add_people(indexes, range(1, users))
            insert(
                slack.Token,
                [{"token": tokens[i], "workspace": ids.team_id(i), "user": ids.user_id(i, 0)} for i in indexes],
                kind=slack.Token.BOT, scopes=template.bot_scopes, enterprise=None, expires_at=None, refresh_token=None,
                refresh_token_used=False, revoked=False, created_at=installed_at,
            )
            insert(
                app_models.Workspace,
                [{"team_id": ids.team_id(i), "team_name": f"Bench {i}"} for i in indexes],
                client_id=settings.SLACK_CLIENT_ID, enterprise_id="", enterprise_name="", is_enterprise_install=False,
                status=app_models.Workspace.ACTIVE, status_reason="", first_installed_at=installed_at,
                latest_installed_at=installed_at, uninstalled_at=None, refresh_lease_until=None,
            )
            workspace_pks = dict(
                app_models.Workspace.objects.filter(
                    client_id=settings.SLACK_CLIENT_ID, team_id__in=[ids.team_id(i) for i in indexes]
                ).values_list("team_id", "pk")
            )
            rows = [_installed_row(i, tokens[i], workspace_pks) for i in indexes]
            insert(app_models.Installation, rows, **_template_values(template, installed_at))
            for row in rows:
                del row["user_id"]
            insert(app_models.Bot, rows, **_template_values(bot_template, installed_at))
            insert(
                app_models.InstallationEvent,
                [{"workspace": workspace_pks[ids.team_id(i)], "actor": ids.user_id(i, 0)} for i in indexes],
                kind=app_models.InstallationEvent.INSTALLED, detail=f"scopes: {template.bot_scopes}", created_at=installed_at,
            )


_VARYING = ("id", "workspace", "team_id", "team_name", "bot_token", "bot_id", "bot_user_id", "user_id", "installed_at")


def _template_values(row, installed_at):
    values = {f.name: getattr(row, f.name) for f in row._meta.concrete_fields if f.name not in _VARYING}
    return {**values, "installed_at": installed_at}


def _installed_row(index, token, workspace_pks):
    team = ids.team_id(index)
    return {
        "workspace": workspace_pks[team], "team_id": team, "team_name": f"Bench {index}",
        # One ciphertext for both rows: as good as the two the ORM would make.
        "bot_token": crypto.encrypt(token.encode()).decode(),
        "bot_id": bot_id(team), "bot_user_id": bot_user_id(team), "user_id": ids.user_id(index, 0),
    }
