"""The operator's console: find a workspace, see its story, act on it; support staff only look."""

import csv
import io
import re
import time
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from slack_sdk.oauth.installation_store import Installation

from installations import models
from installations.stores import DjangoInstallationStore
from sandbox.models import ApiCall, Token
from tests.helpers import install, mention, signed_post

Kind = models.InstallationEvent
CHANGELIST = "/admin/installations/workspace/"
SECRETS = []  # every token and webhook URL the tests store, to prove none reaches a page in full


def installed(team_id="T0ACME0001", team_name="Acme Corp", user_id="U0ACME0001", enterprise_id=None,
              enterprise_name=None, org_wide=False, rotating=False, user_token=False, days_ago=0, **overrides):
    """An installation saved through the store, as the OAuth flow saves it."""
    from django.conf import settings

    now = time.time() - days_ago * 86400
    team_id = None if org_wide else team_id
    name = (team_id or enterprise_id).lower()
    values = dict(
        app_id="A0SANDBOX1", enterprise_id=enterprise_id, enterprise_name=enterprise_name,
        team_id=team_id, team_name=None if org_wide else team_name,
        bot_token=f"xoxb-{name}-bot-token-0123456789abcdef", bot_id=f"B{name[:8]}", bot_user_id=f"UB{name[:8]}",
        bot_scopes="app_mentions:read,chat:write,commands", user_id=user_id, is_enterprise_install=org_wide,
        token_type="bot", installed_at=now,
        incoming_webhook_url=f"https://hooks.slack.com/services/{name}/B1/webhook-secret-0123456789",
    )
    if rotating:
        values.update(bot_refresh_token=f"xoxe-1-{name}-bot-refresh-0123456789", bot_token_expires_at=int(now) + 43200)
    if user_token:
        values.update(user_token=f"xoxp-{name}-{user_id.lower()}-user-token-0123456789", user_scopes="search:read")
        if rotating:
            values.update(user_refresh_token=f"xoxe-1-{name}-{user_id.lower()}-user-refresh-0123",
                          user_token_expires_at=int(now) + 43200)
    values.update(overrides)
    SECRETS.extend(v for k, v in values.items() if k.endswith(("_token", "webhook_url")) and v)
    DjangoInstallationStore(client_id=settings.SLACK_CLIENT_ID).save(Installation(**values))
    return models.Workspace.objects.get(enterprise_id=enterprise_id or "", team_id=team_id or "")


@pytest.fixture
def support_client(support_group):
    user = User.objects.create_user("sam", password="pw", is_staff=True)
    user.groups.add(support_group)
    client = Client()
    client.force_login(user)
    return client


def results(response):
    return {str(workspace) for workspace in response.context["cl"].result_list}


def offered_actions(response):
    return {name for name, _ in response.context["action_form"].fields["action"].choices if name}


@pytest.mark.django_db
def test_the_migration_creates_a_view_only_support_group():
    group = Group.objects.get(name="support")

    codenames = set(group.permissions.values_list("codename", flat=True))

    assert {"view_workspace", "view_installation", "view_bot", "view_oauthstate", "view_installationevent"} <= codenames
    assert all(codename.startswith("view_") for codename in codenames)  # other apps may add their views


@pytest.mark.django_db
def test_the_list_shows_each_workspace_at_a_glance(admin_client):
    installed(rotating=True, user_token=True)
    installed(user_id="U0ACME0002", user_token=True)
    installed("T0GLOBEX01", "Globex")
    installed(enterprise_id="E0INITECH1", enterprise_name="Initech", org_wide=True, user_id="W0INITECH1")

    page = admin_client.get(CHANGELIST)

    assert page.status_code == 200
    assert results(page) == {"Acme Corp", "Globex", "Initech (org-wide)"}
    acme = next(w for w in page.context["cl"].result_list if w.team_id == "T0ACME0001")
    assert (acme.installer, acme.bot_user_id, acme.user_token_count) == ("U0ACME0002", "UBt0acme00", 2)
    html = page.content.decode().lower()
    for text in ["e0initech1", "w0initech1", "not rotating", "installed by", "user tokens", "active"]:
        assert text in html


@pytest.mark.django_db
@pytest.mark.parametrize("query, found", [
    ("acme", {"Acme Corp"}),
    ("T0GLOBEX01", {"Globex"}),
    ("E0INITECH1", {"Initech (org-wide)"}),
    ("initech", {"Initech (org-wide)"}),
    ("U0GLOBEX02", {"Globex"}),  # someone who authorized, not the latest installer
    ("UBt0acme00", {"Acme Corp"}),  # the bot user
])
def test_search_by_name_id_or_user(admin_client, query, found):
    installed()
    installed("T0GLOBEX01", "Globex", user_id="U0GLOBEX02", user_token=True)
    installed("T0GLOBEX01", "Globex", user_id="U0GLOBEX01", days_ago=-1)
    installed(enterprise_id="E0INITECH1", enterprise_name="Initech", org_wide=True, user_id="W0INITECH1")

    page = admin_client.get(CHANGELIST, {"q": query})

    assert results(page) == found
    assert page.context["cl"].result_count == len(found)  # no duplicates from the joins


@pytest.mark.django_db
def test_filters_status_org_wide_rotation_and_install_date(admin_client):
    installed(rotating=True)
    installed("T0GLOBEX01", "Globex", days_ago=30)
    installed(enterprise_id="E0INITECH1", enterprise_name="Initech", org_wide=True, user_id="W0INITECH1")
    hooli = installed("T0HOOLI001", "Hooli", rotating=True)
    hooli.status = models.Workspace.NEEDS_REINSTALL
    hooli.save()
    Kind.objects.create(workspace=hooli, kind=Kind.REFRESH_FAILED, actor="refresh_tokens", detail="invalid_refresh_token")
    models.Bot.objects.filter(team_id="T0HOOLI001").update(bot_token_expires_at=timezone.now() - timedelta(hours=1))
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()

    def listed(**query):
        return results(admin_client.get(CHANGELIST, query))

    assert listed(status__exact="needs_reinstall") == {"Hooli"}
    assert listed(is_enterprise_install__exact="1") == {"Initech (org-wide)"}
    assert listed(rotation="rotating") == {"Acme Corp", "Hooli"}
    assert listed(rotation="not_rotating") == {"Globex", "Initech (org-wide)"}
    assert listed(rotation="due") == {"Hooli"}
    assert listed(rotation="failed") == {"Hooli"}
    assert listed(latest_installed_at__gte=week_ago) == {"Acme Corp", "Initech (org-wide)", "Hooli"}


@pytest.mark.django_db
def test_a_workspace_page_tells_its_story(admin_client):
    installed(rotating=True, user_token=True, days_ago=2)
    workspace = installed(user_id="U0ACME0002", rotating=True, user_token=True, bot_scopes="chat:write,users:read")

    page = admin_client.get(f"{CHANGELIST}{workspace.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "installation history" in html.lower() and html.count("U0ACME0002") >= 2
    assert "users who authorized" in html.lower() and "U0ACME0001" in html
    assert "Scopes changed" in html and "added: users:read" in html  # the audit trail
    assert "chat:write, users:read" in html  # the current bot's scopes
    assert "xoxb-…cdef (expires" in html and "xoxp-…6789 (expires" in html
    assert "rotating; expires" in html
    assert 'id="refresh-tokens-now"' in html and 'id="uninstall"' in html
    assert f"?workspace__id__exact={workspace.pk}" in html  # every event, beyond the latest ones


@pytest.mark.django_db
def test_tokens_are_masked_on_every_page_and_never_editable(admin_client):
    SECRETS.clear()
    workspace = installed(rotating=True, user_token=True)
    installed(enterprise_id="E0INITECH1", enterprise_name="Initech", org_wide=True, user_id="W0INITECH1",
              rotating=True, user_token=True)
    installation, bot = models.Installation.objects.first(), models.Bot.objects.first()
    event, state = Kind.objects.first(), models.OAuthState.objects.create(state="s" * 40, expire_at=timezone.now())
    base = "/admin/installations"
    pages = ["/admin/", "/admin/installations/"] + [
        f"{base}/{name}/{suffix}" for name, pk in [
            ("workspace", workspace.pk), ("installation", installation.pk), ("bot", bot.pk),
            ("installationevent", event.pk), ("oauthstate", state.pk),
        ] for suffix in ["", f"{pk}/change/", f"{pk}/history/"]
    ]
    answers = [admin_client.get(url) for url in pages] + [
        admin_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [workspace.pk], "index": 0}),
        admin_client.post(CHANGELIST, {"action": "uninstall", "_selected_action": [workspace.pk], "index": 0}),
    ]

    assert all(answer.status_code == 200 for answer in answers), [(a.request["PATH_INFO"], a.status_code) for a in answers]
    assert len(SECRETS) == 10
    for answer in answers:
        body = answer.content.decode()
        leaked = [secret for secret in SECRETS if secret in body]
        assert not leaked, f"{answer.request['PATH_INFO']} shows {leaked}"
    change_page = answers[pages.index(f"{base}/installation/{installation.pk}/change/")].content.decode()
    assert "xoxb-…cdef" in change_page and "webhook URL …6789" in change_page
    assert 'name="_save"' not in change_page and "<textarea" not in change_page
    for name, pk in [("workspace", workspace.pk), ("installation", installation.pk), ("bot", bot.pk),
                     ("installationevent", event.pk)]:
        assert admin_client.post(f"{base}/{name}/{pk}/change/", {"bot_token": "xoxb-forged"}).status_code == 403
        assert admin_client.post(f"{base}/{name}/{pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"{base}/installation/add/").status_code == 403
    assert models.Installation.objects.get(pk=installation.pk).bot_token == SECRETS[0]


@pytest.mark.django_db
def test_export_as_csv(admin_client):
    installed(rotating=True, user_token=True)
    installed("T0EVIL0001", "=HYPERLINK(\"http://evil\")")

    answer = admin_client.post(CHANGELIST, {"action": "export_csv", "select_across": 1, "index": 0,
                                            "_selected_action": [0]})

    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    assert "workspaces.csv" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    acme = next(row for row in rows if row["team_id"] == "T0ACME0001")
    assert acme["workspace"] == "Acme Corp" and acme["status"] == "active" and acme["installed_by"] == "U0ACME0001"
    assert acme["user_tokens"] == "1" and acme["bot_scopes"] == "app_mentions:read,chat:write,commands"
    assert acme["bot_token_expires_at"] and acme["org_wide"] == "False"
    evil = next(row for row in rows if row["team_id"] == "T0EVIL0001")
    assert evil["workspace"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert "xoxb-" not in answer.content.decode()


@pytest.mark.django_db
def test_support_staff_browse_and_export_but_cannot_act(support_client):
    workspace = installed(rotating=True)
    models.OAuthState.objects.create(state="old", expire_at=timezone.now() - timedelta(hours=1))

    listing = support_client.get(CHANGELIST)
    page = support_client.get(f"{CHANGELIST}{workspace.pk}/change/")

    assert listing.status_code == 200 and results(listing) == {"Acme Corp"}
    assert offered_actions(listing) == {"export_csv"}
    assert page.status_code == 200 and "Acme Corp" in page.content.decode()
    assert 'id="refresh-tokens-now"' not in page.content.decode() and 'id="uninstall"' not in page.content.decode()
    export = support_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [workspace.pk], "index": 0})
    assert export["Content-Type"].startswith("text/csv")

    # Forged POSTs: Django refuses an action the user is not offered.
    for action in ["uninstall", "refresh_tokens_now"]:
        forged = support_client.post(CHANGELIST, {"action": action, "_selected_action": [workspace.pk], "post": "yes"},
                                     follow=True)
        assert "No action selected." in [str(m) for m in forged.context["messages"]]
    purge = support_client.post("/admin/installations/oauthstate/", {
        "action": "purge_expired", "_selected_action": list(models.OAuthState.objects.values_list("pk", flat=True)),
        "index": 0})
    assert purge.status_code == 403  # support users don't see OAuth states at all
    assert support_client.post(f"{CHANGELIST}{workspace.pk}/delete/", {"post": "yes"}).status_code == 403
    workspace.refresh_from_db()
    assert workspace.status == models.Workspace.ACTIVE and models.Installation.objects.exists()
    assert not Kind.objects.exclude(kind=Kind.INSTALLED).exists()
    assert models.OAuthState.objects.count() == 1


@pytest.mark.django_db
def test_purge_removes_only_expired_states(admin_client):
    models.OAuthState.objects.create(state="expired-1", expire_at=timezone.now() - timedelta(minutes=1))
    models.OAuthState.objects.create(state="expired-2", expire_at=timezone.now() - timedelta(days=1))
    models.OAuthState.objects.create(state="in-progress", expire_at=timezone.now() + timedelta(minutes=5))

    listing = admin_client.get("/admin/installations/oauthstate/", {"expired": "yes"})
    done = admin_client.post("/admin/installations/oauthstate/", {
        "action": "purge_expired", "index": 0,
        "_selected_action": list(models.OAuthState.objects.values_list("pk", flat=True)),
    }, follow=True)

    assert listing.context["cl"].result_count == 2 and "expired-1" not in listing.content.decode()
    assert offered_actions(listing) == {"purge_expired"}
    assert "Purged 2 expired states." in [str(m) for m in done.context["messages"]]
    assert list(models.OAuthState.objects.values_list("state", flat=True)) == ["in-progress"]


@pytest.mark.django_db
def test_the_index_counts_what_operators_check_first(admin_client, support_client):
    acme = installed()
    installed("T0GLOBEX01", "Globex")
    hooli = installed("T0HOOLI001", "Hooli")
    old = installed("T0OLD00001", "Old Co", days_ago=30)
    models.Workspace.objects.filter(pk=hooli.pk).update(status=models.Workspace.NEEDS_REINSTALL)
    models.Workspace.objects.filter(pk=old.pk).update(status=models.Workspace.UNINSTALLED)
    month_ago = timezone.now() - timedelta(days=30)
    for workspace, kind in [(hooli, Kind.REFRESH_FAILED), (acme, Kind.REFRESH_FAILED), (old, Kind.UNINSTALLED)]:
        Kind.objects.create(workspace=workspace, kind=kind)
    Kind.objects.create(workspace=old, kind=Kind.REFRESH_FAILED)
    Kind.objects.filter(workspace=old).update(created_at=month_ago)  # too old to count, install included
    Kind.objects.create(workspace=old, kind=Kind.UNINSTALLED)

    page = admin_client.get("/admin/")

    counts = {key: count for key, _, count, _ in page.context["console_counts"]}
    assert counts == {"active": 2, "installs": 3, "uninstalls": 1, "refresh_failures": 2, "needs_reinstall": 1}
    html = page.content.decode()
    assert "Active workspaces" in html and "Refresh failures, last 7 days" in html
    links = {key: url for key, _, _, url in page.context["console_counts"]}
    assert results(admin_client.get(links["active"])) == {"Acme Corp", "Globex"}
    failures = admin_client.get(links["refresh_failures"])
    assert failures.status_code == 200 and failures.context["cl"].result_count == 2
    assert admin_client.get(links["installs"]).context["cl"].result_count == 3
    assert "console_counts" in support_client.get("/admin/").context


# --- actions that reach Slack (the sandbox, over HTTP) -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_refresh_tokens_now_from_a_workspace_page(rotating, browser, admin_client):
    install(browser, rotating)
    workspace = models.Workspace.objects.get()
    before = models.Installation.objects.get()

    done = admin_client.post(CHANGELIST, {
        "action": "refresh_tokens_now", "_selected_action": [workspace.pk], "from_change_page": "1",
    }, follow=True)

    assert done.redirect_chain == [(f"{CHANGELIST}{workspace.pk}/change/", 302)]
    after = models.Installation.objects.get()
    assert after.bot_token != before.bot_token and after.user_token != before.user_token
    event = workspace.events.get(kind=Kind.REFRESHED)
    assert event.actor == "operator:admin" and "bot" in event.detail and "U0ACME0001" in event.detail
    html = done.content.decode()
    assert "Acme Corp: refreshed bot, U0ACME0001." in html and "Token refreshed" in html
    assert after.bot_token not in html and before.bot_token not in html


@pytest.mark.django_db(transaction=True)
def test_refresh_of_a_workspace_needing_reinstall_is_skipped(rotating, browser, admin_client):
    install(browser, rotating)
    models.Workspace.objects.update(status=models.Workspace.NEEDS_REINSTALL)
    calls = ApiCall.objects.count()

    done = admin_client.post(CHANGELIST, {"action": "refresh_tokens_now", "_selected_action": [
        models.Workspace.objects.get().pk], "index": 0}, follow=True)

    assert "Acme Corp: not refreshed (needs reinstall)." in [str(m) for m in done.context["messages"]]
    assert ApiCall.objects.count() == calls


@pytest.mark.django_db(transaction=True)
def test_uninstall_asks_first_then_revokes_at_slack(rotating, browser, admin_client):
    install(browser, rotating)
    workspace = models.Workspace.objects.get()
    selected = {"action": "uninstall", "_selected_action": [workspace.pk], "from_change_page": "1"}

    confirm = admin_client.post(CHANGELIST, selected)

    assert confirm.status_code == 200 and "Yes, uninstall" in confirm.content.decode()
    assert models.Installation.objects.exists() and Token.objects.filter(revoked=False).exists()

    done = admin_client.post(CHANGELIST, {**selected, "post": "yes"}, follow=True)

    assert done.redirect_chain == [(f"{CHANGELIST}{workspace.pk}/change/", 302)]
    assert "Acme Corp: tokens revoked at Slack and deleted." in [str(m) for m in done.context["messages"]]
    workspace.refresh_from_db()
    assert workspace.status == models.Workspace.UNINSTALLED
    assert not models.Installation.objects.exists() and not Token.objects.filter(revoked=False).exists()
    assert workspace.events.get(kind=Kind.UNINSTALLED).actor == "operator:admin"
    assert 'id="uninstall"' not in done.content.decode()  # nothing left to uninstall


# --- a read-only console that says so --------------------------------------------------------


@pytest.mark.django_db
def test_the_console_is_its_own_admin_site():
    from django.contrib import admin

    from config.console import ConsoleSite

    assert isinstance(admin.site, ConsoleSite)
    assert "index" not in vars(admin.site)  # nothing patched at import


@pytest.mark.django_db
def test_pages_say_view_where_nothing_can_change(admin_client):
    workspace = installed()
    models.OAuthState.objects.create(state="s" * 40, expire_at=timezone.now())

    index = admin_client.get("/admin/").content.decode()
    page = admin_client.get(f"{CHANGELIST}{workspace.pk}/change/").content.decode()

    links = dict(re.findall(r'aria-describedby="installations-(\w+)">(\w+)</a>', index))
    assert links == dict.fromkeys(["workspace", "installation", "bot", "installationevent", "oauthstate"], "View")
    for name, title in [("workspace", "workspace"), ("installation", "installation"), ("bot", "bot"),
                        ("installationevent", "installation event"), ("oauthstate", "OAuth state")]:
        listing = admin_client.get(f"/admin/installations/{name}/").content.decode()
        assert f"Select {title} to view" in listing and "to change" not in listing
    assert "| View workspace |" in page and "Change workspace" not in page
    assert 'id="uninstall"' in page  # the actions still offered to those allowed


@pytest.mark.django_db
def test_one_date_format_everywhere(admin_client):
    workspace = installed(rotating=True, user_token=True)
    one_format = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    pages = [CHANGELIST, f"{CHANGELIST}{workspace.pk}/change/", "/admin/installations/installation/",
             "/admin/installations/installationevent/"]

    for url in pages:
        html = admin_client.get(url).content.decode()
        assert one_format.search(html), url
        assert not re.search(r"\b(a\.m\.|p\.m\.|noon|midnight)", html), url  # Django's default format
    listing = admin_client.get(CHANGELIST).content.decode()
    assert f"{timezone.localtime(workspace.latest_installed_at):%Y-%m-%d %H:%M} UTC" in listing
    assert re.search(r"rotating; expires \d{4}-\d\d-\d\d \d\d:\d\d UTC", listing)


@pytest.mark.django_db
def test_the_workspace_page_tables_come_from_templates(admin_client):
    workspace = installed(user_token=True)

    page = admin_client.get(f"{CHANGELIST}{workspace.pk}/change/")

    used = {template.name for template in page.templates}
    assert {"admin/installations/workspace/authorized_users.html",
            "admin/installations/workspace/recent_events.html"} <= used
    html = page.content.decode()
    assert '<th scope="col">user token</th>' in html and '<th scope="col">what</th>' in html


@pytest.mark.django_db
def test_view_site_leads_to_the_home_page(admin_client):
    index = admin_client.get("/admin/").content.decode()
    site = re.search(r'<a href="([^"]+)">View site</a>', index).group(1)

    home = admin_client.get(site)

    assert home.status_code == 200 and 'id="add-to-slack"' in home.content.decode()


# --- lookups, states, selections: what an outside probe tried --------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url, query", [
    ("/admin/installations/oauthstate/", {"state__regex": "^s"}),
    ("/admin/installations/oauthstate/", {"state__startswith": "s"}),
    ("/admin/installations/oauthstate/", {"id__gt": "0"}),
    (CHANGELIST, {"client_id__startswith": "s"}),
    (CHANGELIST, {"status_reason__contains": "x"}),
    ("/admin/installations/installation/", {"bot_token__startswith": "g"}),
    ("/admin/installations/installation/", {"user_refresh_token__isnull": "False"}),
    ("/admin/installations/bot/", {"bot_token__regex": "."}),
    ("/admin/installations/installationevent/", {"detail__contains": "x"}),
])
def test_lists_accept_only_the_filters_they_offer(admin_client, url, query):
    installed(rotating=True, user_token=True)
    models.OAuthState.objects.create(state="s" * 43, expire_at=timezone.now() + timedelta(minutes=5))

    answer = admin_client.get(url, query)

    assert answer.status_code == 400
    assert "s" * 43 not in answer.content.decode()


@pytest.mark.django_db
def test_the_filters_and_links_the_console_offers_still_work(admin_client):
    workspace = installed()
    installed("T0GLOBEX01", "Globex")

    by_workspace = admin_client.get("/admin/installations/installationevent/", {"workspace__id__exact": workspace.pk})
    by_kind = admin_client.get("/admin/installations/installationevent/", {"kind__in": "installed,reinstalled"})
    by_date = admin_client.get("/admin/installations/installation/", {"installed_at__gte": "2000-01-01T00:00:00+00:00"})

    assert by_workspace.status_code == 200 and by_workspace.context["cl"].result_count == 1
    assert by_kind.context["cl"].result_count == 2 and by_date.context["cl"].result_count == 2
    assert admin_client.get("/admin/installations/oauthstate/", {"expired": "yes"}).status_code == 200


@pytest.mark.django_db
def test_support_staff_never_see_oauth_states(support_client):
    state = models.OAuthState.objects.create(state="s" * 43, expire_at=timezone.now() + timedelta(minutes=5))

    index = support_client.get("/admin/").content.decode()

    assert "Workspaces" in index and "OAuth states" not in index
    for url in ["/admin/installations/oauthstate/", f"/admin/installations/oauthstate/{state.pk}/change/"]:
        assert support_client.get(url).status_code == 403
    assert support_client.get("/admin/installations/oauthstate/", {"state__regex": "^s"}).status_code in (400, 403)


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["export_csv", "uninstall", "refresh_tokens_now"])
@pytest.mark.parametrize("selected", ["abc", "1" * 30, "1.5", ""])
def test_a_malformed_selection_is_refused_with_a_message(admin_client, action, selected):
    workspace = installed()

    answer = admin_client.post(CHANGELIST, {"action": action, "_selected_action": [selected], "index": 0}, follow=True)

    assert answer.status_code == 200
    assert "That selection is not valid: choose rows with their checkboxes." in [str(m) for m in answer.context["messages"]]
    workspace.refresh_from_db()
    assert workspace.status == models.Workspace.ACTIVE and list(workspace.events.values_list("kind", flat=True)) == [
        Kind.INSTALLED]


@pytest.mark.django_db
def test_a_malformed_selection_of_states_is_refused_too(admin_client):
    models.OAuthState.objects.create(state="expired", expire_at=timezone.now() - timedelta(hours=1))

    answer = admin_client.post("/admin/installations/oauthstate/", {
        "action": "purge_expired", "_selected_action": ["1" * 30], "index": 0}, follow=True)

    assert "That selection is not valid: choose rows with their checkboxes." in [str(m) for m in answer.context["messages"]]
    assert models.OAuthState.objects.count() == 1


@pytest.mark.django_db
def test_export_guards_every_formula_start_owasp_lists(admin_client):
    for number, name in enumerate(["=1+2", "+1", "-1", "@SUM(A1)", "\t=1+2", "\r=1+2"]):
        installed(f"T0EVIL000{number}", name)

    answer = admin_client.post(CHANGELIST, {"action": "export_csv", "select_across": 1, "index": 0,
                                            "_selected_action": [0]})

    names = [row["workspace"] for row in csv.DictReader(io.StringIO(answer.content.decode(), newline=""))]
    assert sorted(names) == sorted(["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\t=1+2", "'\r=1+2"])


# --- a token no key decrypts -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_token_no_key_decrypts_reads_as_unreadable_and_uninstall_still_works(admin_client, settings, client):
    retired, current = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [retired]
    acme = installed(rotating=True, user_token=True)
    settings.TOKEN_ENCRYPTION_KEYS = [current, retired]
    installed("T0GLOBEX01", "Globex")
    settings.TOKEN_ENCRYPTION_KEYS = [current]  # the key Acme's tokens were written under is gone

    listing = admin_client.get(CHANGELIST)
    pages = [admin_client.get(url) for url in [
        "/admin/installations/installation/", "/admin/installations/bot/", f"{CHANGELIST}{acme.pk}/change/",
        f"/admin/installations/installation/{models.Installation.objects.get(team_id='T0ACME0001').pk}/change/",
    ]]
    event = signed_post(client, mention())

    assert listing.status_code == 200 and all(page.status_code == 200 for page in pages)
    rows = {row.team_id: row for row in listing.context["cl"].result_list}
    html = listing.content.decode()
    assert "Needs reinstall: the bot token is unreadable (encrypted with a key no longer configured)" in html
    assert html.count("Needs reinstall: the bot token") == 1 and rows["T0GLOBEX01"].status == models.Workspace.ACTIVE
    for page in pages:
        assert "unreadable (encrypted with a key no longer configured)" in page.content.decode()
    assert event.status_code < 500

    confirm = admin_client.post(CHANGELIST, {"action": "uninstall", "_selected_action": [acme.pk], "index": 0})
    done = admin_client.post(CHANGELIST, {"action": "uninstall", "_selected_action": [acme.pk], "post": "yes"},
                             follow=True)

    assert confirm.status_code == 200 and done.status_code == 200
    assert ("Acme Corp: deleted here. Its tokens were unreadable, so Slack was not asked to revoke them: remove the "
            "app from the workspace's settings in Slack.") in [str(m) for m in done.context["messages"]]
    acme.refresh_from_db()
    assert acme.status == models.Workspace.UNINSTALLED
    assert not models.Installation.objects.filter(team_id="T0ACME0001").exists()
    assert models.Installation.objects.filter(team_id="T0GLOBEX01").exists()


# --- logging in ----------------------------------------------------------------------------------


def log_in(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


@pytest.mark.django_db
def test_admin_login_is_refused_after_five_failures(admin_user, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 5
    guesser, elsewhere = Client(REMOTE_ADDR="203.0.113.7"), Client(REMOTE_ADDR="198.51.100.2")

    failures = [log_in(guesser, "admin", f"guess-{n}") for n in range(5)]
    refused = log_in(guesser, "admin", "password")  # even the right password, for a while

    assert all("Please enter the correct username and password" in f.content.decode() for f in failures)
    assert refused.status_code == 200 and "_auth_user_id" not in guesser.session
    assert "Too many failed log-in attempts for this username. Try again in 15 minutes." in refused.content.decode()
    assert log_in(elsewhere, "admin", "password").status_code == 302  # the owner, from their own address


@pytest.mark.django_db
def test_a_successful_login_starts_the_count_again(admin_user, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 5
    client = Client(REMOTE_ADDR="203.0.113.7")

    for _ in range(2):
        for n in range(4):
            assert log_in(client, "admin", f"typo-{n}").status_code == 200
        assert log_in(client, "admin", "password").status_code == 302
        client.logout()


@pytest.mark.django_db
def test_behind_the_proxy_the_login_throttle_counts_the_address_the_proxy_saw(admin_user, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 5
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_PROTO": "https"}
    guesser = Client(**proxy, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7")  # the first entry is forgeable
    owner = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")

    for n in range(5):
        log_in(guesser, "admin", f"guess-{n}")

    assert "Too many failed log-in attempts" in log_in(guesser, "admin", "password").content.decode()
    assert log_in(owner, "admin", "password").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("url, query", [
    ("/admin/auth/user/", {"password__startswith": "pbkdf2"}),
    ("/admin/auth/user/", {"email__regex": "."}),
    ("/admin/sandbox/token/", {"token__startswith": "xoxb"}),
])
def test_every_apps_lists_accept_only_the_filters_they_offer(admin_client, url, query):
    assert admin_client.get(url, query).status_code == 400


@pytest.mark.django_db
def test_django_filters_of_other_apps_still_work(admin_client, support_group):
    offered = [("/admin/auth/user/", {"is_staff__exact": "1"}), ("/admin/auth/user/", {"groups__id__exact": support_group.pk}),
               ("/admin/installations/workspace/", {"_facets": "True"})]

    for url, query in offered:
        assert admin_client.get(url, query).status_code == 200, (url, query)
