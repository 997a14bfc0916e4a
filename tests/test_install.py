"""A person installs the app from "Add to Slack", through the sandbox's consent, over real HTTP."""

import pytest

from installations import models
from tests.helpers import install

pytestmark = pytest.mark.django_db(transaction=True)


def test_install_page_explains_scopes_and_links_to_slack(slack, browser):
    page = browser.get(f"{slack}/slack/install")

    assert page.status_code == 200
    assert "Add to Slack" in page.text
    assert "Send messages as the app" in page.text  # chat:write in plain words
    assert "/sandbox/oauth/v2/authorize?state=" in page.text
    assert "slack-app-oauth-state" in page.headers["Set-Cookie"]


def test_full_install_stores_the_installation_and_shows_success(slack, browser):
    done = install(browser, slack)

    assert done.status_code == 200, done.text
    assert "Installed." in done.text and "Acme Corp" in done.text
    row = models.Installation.objects.get()
    assert (row.team_id, row.team_name, row.user_id) == ("T0ACME0001", "Acme Corp", "U0ACME0001")
    assert row.bot_token.startswith("xoxb-") and row.bot_id and row.bot_user_id
    assert models.Bot.objects.get().bot_token == row.bot_token
    workspace = models.Workspace.objects.get()
    assert workspace.status == models.Workspace.ACTIVE
    assert workspace.events.get().kind == models.InstallationEvent.INSTALLED
    assert row.bot_token not in done.text


def test_state_cookie_works_over_plain_http_and_is_secure_behind_tls(slack, browser, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # production's default
    page = browser.get(f"{slack}/slack/install")
    assert "Secure" not in page.headers["Set-Cookie"]

    proxied = browser.get(f"{slack}/slack/install", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in proxied.headers["Set-Cookie"]


def test_cancel_shows_a_friendly_failure_and_stores_nothing(slack, browser):
    done = install(browser, slack, decision="cancel")

    assert done.status_code == 200
    assert "Installation cancelled" in done.text and "Try again" in done.text
    assert "Traceback" not in done.text
    assert not models.Installation.objects.exists()


def test_replayed_state_is_refused(slack, browser):
    done = install(browser, slack)
    assert done.status_code == 200

    # Even with the state cookie presented again, the state was consumed by the first callback.
    state = done.url.split("state=")[1].split("&")[0]
    replay = browser.get(done.url, cookies={"slack-app-oauth-state": state})

    assert replay.status_code == 401
    assert "expired or was already used" in replay.text
    assert models.Installation.objects.count() == 1


def test_state_from_another_browser_is_refused(slack, browser):
    import requests

    page = browser.get(f"{slack}/slack/install")
    state = page.text.split("state=")[1].split("&")[0]

    other = requests.get(f"{slack}/slack/oauth_redirect?code=x&state={state}")

    assert other.status_code == 400
    assert "another browser" in other.text
    assert not models.Installation.objects.exists()


def test_failed_code_exchange_shows_failure(slack, browser):
    page = browser.get(f"{slack}/slack/install")
    state = page.text.split("state=")[1].split("&")[0]

    done = browser.get(f"{slack}/slack/oauth_redirect?code=not-a-code&state={state}")

    assert done.status_code == 401
    assert "did not confirm the installation" in done.text
    assert not models.Installation.objects.exists()


def test_slack_unreachable_shows_failure_not_a_stack_trace(slack, browser, settings):
    page = browser.get(f"{slack}/slack/install")
    state = page.text.split("state=")[1].split("&")[0]
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens there

    done = browser.get(f"{slack}/slack/oauth_redirect?code=any&state={state}")

    assert done.status_code == 401
    assert "did not confirm the installation" in done.text and "Traceback" not in done.text


def test_org_wide_install(slack, browser):
    done = install(browser, slack, target="E0INITECH1", user="T0INIEAST1:W0INITECH1")

    assert done.status_code == 200, done.text
    row = models.Installation.objects.get()
    assert row.is_enterprise_install and row.enterprise_id == "E0INITECH1" and row.team_id is None
    assert models.Workspace.objects.get().is_enterprise_install


def test_state_store_down_is_a_friendly_503(slack, browser, monkeypatch):
    from django.db import OperationalError

    from bolt_app.app import get_app

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    state_store = get_app().oauth_flow.settings.state_store
    monkeypatch.setattr(state_store, "issue", down)
    monkeypatch.setattr(state_store, "consume", down)

    page = browser.get(f"{slack}/slack/install")
    callback = browser.get(f"{slack}/slack/oauth_redirect?code=x&state=y", cookies={"slack-app-oauth-state": "y"})

    for response in (page, callback):
        assert response.status_code == 503
        assert "unavailable right now" in response.text and "Traceback" not in response.text


def test_reloading_the_success_page_says_the_install_is_done(slack, browser):
    done = install(browser, slack)
    assert done.status_code == 200

    again = browser.get(done.url)

    assert again.status_code == 200
    assert "Installed." in again.text and "Acme Corp" in again.text and "already complete" in again.text
    assert "another browser" not in again.text and "Not installed" not in again.text
    assert models.Installation.objects.count() == 1


def test_another_browser_opening_a_finished_install_is_still_refused(slack, browser):
    import requests

    done = install(browser, slack)

    other = requests.get(done.url)

    assert other.status_code == 400 and "another browser" in other.text


def test_the_redirect_address_opened_directly_says_so(slack, browser):
    page = browser.get(f"{slack}/slack/oauth_redirect")

    assert page.status_code == 400
    assert "There is no install to finish here" in page.text and 'href="/slack/install"' in page.text
    assert "another browser" not in page.text and "expired" not in page.text


def test_install_pages_are_never_cached(slack, browser):
    start = browser.get(f"{slack}/slack/install")
    done = install(browser, slack)
    failed = browser.get(f"{slack}/slack/oauth_redirect?code=x&state=y")

    for page in (start, done, failed):
        assert page.headers["Cache-Control"] == "no-store"
