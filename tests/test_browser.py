"""The pages in a real browser: headless Chromium, driven by Playwright, against the live server.

A person installs from "Add to Slack"; an operator finds a workspace and refreshes its tokens; a
support user looks but cannot uninstall. Screenshots of every page land in test-artifacts/screenshots/.
"""


import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from installations import models
from sandbox.models import Token
from tests.helpers import assert_accessible, install, needs_chromium, screenshot


pytestmark = [
    needs_chromium,
    pytest.mark.django_db(transaction=True),
]




def log_in(page, base_url, username, password):
    page.goto(f"{base_url}/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Operator console")).to_be_visible()


def test_a_person_installs_from_add_to_slack(slack, page):
    page.goto(f"{slack}/slack/install")

    expect(page).to_have_title("Add slackhub to Slack")
    expect(page.get_by_text("Send messages as the app")).to_be_visible()
    screenshot(page, "install")
    assert_accessible(page)

    # By keyboard: Tab to the button, Enter to follow it.
    add_to_slack = page.get_by_role("link", name="Add to Slack")
    for _ in range(5):
        page.keyboard.press("Tab")
        if add_to_slack.evaluate("link => link === document.activeElement"):
            break
    expect(add_to_slack).to_be_focused()
    assert add_to_slack.evaluate("link => getComputedStyle(link).outlineStyle") != "none"  # focus is visible
    page.keyboard.press("Enter")

    page.get_by_label("Install on").select_option("T0ACME0001")
    page.get_by_label("Install as").select_option("T0ACME0001:U0ACME0001")
    screenshot(page, "sandbox-consent")
    page.get_by_role("button", name="Allow").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Installed. slackhub is in Acme Corp")
    screenshot(page, "success")
    assert_accessible(page)
    assert models.Installation.objects.get().team_id == "T0ACME0001"


def test_a_person_who_cancels_is_told_and_can_try_again(slack, page):
    page.goto(f"{slack}/slack/install")
    page.get_by_role("link", name="Add to Slack").click()
    page.get_by_role("button", name="Cancel").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Installation cancelled")
    screenshot(page, "failure")
    assert_accessible(page)

    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("link", name="Add to Slack")).to_be_visible()
    assert not models.Installation.objects.exists()


def test_the_install_page_fits_a_phone(slack, chromium):
    context = chromium.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{slack}/slack/install")

        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
        button = page.get_by_role("link", name="Add to Slack").bounding_box()
        assert button["width"] >= 300 and button["height"] >= 44  # a thumb-sized target
        screenshot(page, "install-phone")
        assert_accessible(page)
    finally:
        context.close()


def test_an_operator_finds_a_workspace_and_refreshes_its_tokens(slack, settings, browser, page, admin_user):
    settings.SANDBOX_TOKEN_ROTATION = True
    install(browser, slack)
    install(browser, slack, target="T0GLOBEX01", user="T0GLOBEX01:U0GLOBEX01")
    tokens_before = set(models.Bot.objects.values_list("bot_token", flat=True))

    log_in(page, slack, "admin", "password")
    expect(page.locator("#count-active")).to_contain_text("2")
    screenshot(page, "admin-index")
    page.locator("#installations-workspace").get_by_role("link", name="Workspaces").click()
    page.locator("#searchbar").fill("Acme")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    screenshot(page, "admin-workspaces")
    page.get_by_role("link", name="Acme Corp").click()
    page.get_by_role("button", name="Refresh tokens now").click()

    expect(page.locator(".messagelist")).to_contain_text("Acme Corp: refreshed bot")
    expect(page.locator("#audit-trail")).to_contain_text("Token refreshed")
    expect(page.locator("#audit-trail")).to_contain_text("operator:admin")
    screenshot(page, "admin-workspace-refreshed")
    assert models.Bot.objects.get(team_id="T0ACME0001").bot_token not in tokens_before
    assert models.Bot.objects.get(team_id="T0GLOBEX01").bot_token in tokens_before
    html = page.content()
    assert not any(token in html for token in Token.objects.values_list("token", flat=True))


def test_a_support_user_cannot_uninstall(slack, browser, page, support_group):
    install(browser, slack)
    sam = User.objects.create_user("sam", password="support-pw", is_staff=True)
    sam.groups.add(support_group)
    workspace = models.Workspace.objects.get()

    log_in(page, slack, "sam", "support-pw")
    page.goto(f"{slack}/admin/installations/workspace/")
    offered = page.locator("select[name=action] option").all_inner_texts()
    assert "Export as CSV" in offered and not any("Uninstall" in text or "Refresh" in text for text in offered)
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_role("button", name="Uninstall…")).to_have_count(0)
    expect(page.get_by_role("button", name="Refresh tokens now")).to_have_count(0)
    screenshot(page, "admin-workspace-support")

    # The POST an operator's "Uninstall" confirmation sends, forged with the support user's session.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(f"{slack}/admin/installations/workspace/", form={
        "csrfmiddlewaretoken": csrf, "action": "uninstall", "_selected_action": str(workspace.pk), "post": "yes",
    })

    assert forged.status == 200 and "No action selected." in forged.text()
    workspace.refresh_from_db()
    assert workspace.status == models.Workspace.ACTIVE and models.Installation.objects.exists()
    assert not Token.objects.filter(revoked=True).exists()
    assert not workspace.events.filter(kind=models.InstallationEvent.UNINSTALLED).exists()


def test_the_home_page_leads_to_add_to_slack_and_the_console(slack, page, settings):
    settings.SLACK_SANDBOX = True

    page.goto(f"{slack}/")

    expect(page.get_by_role("heading", level=1)).to_have_text("slackhub")
    expect(page.get_by_role("link", name="Operator console")).to_have_attribute("href", "/admin/")
    expect(page.get_by_role("main").get_by_role("link", name="Sandbox")).to_be_visible()
    assert page.evaluate("fetch('/favicon.ico').then(r => r.status)") == 200
    screenshot(page, "home")
    assert_accessible(page)
    page.get_by_role("link", name="Add to Slack").click()
    expect(page).to_have_title("Add slackhub to Slack")


def test_the_workspace_list_fits_a_laptop_screen(slack, rotating, browser, page, admin_user):
    install(browser, slack)
    install(browser, slack, target="T0GLOBEX01", user="T0GLOBEX01:U0GLOBEX01")
    install(browser, slack, target="E0INITECH1", user="T0INIEAST1:W0INITECH1")

    log_in(page, slack, "admin", "password")
    page.goto(f"{slack}/admin/installations/workspace/")

    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    expect(page.get_by_role("heading", level=1)).to_have_text("Select workspace to view")
    widths = page.evaluate("""() => {
        const results = document.querySelector('#changelist .results');
        return {page: document.documentElement.scrollWidth, window: window.innerWidth,
                table: results.scrollWidth, room: results.clientWidth};
    }""")
    screenshot(page, "admin-workspaces-1280")
    assert widths["page"] <= widths["window"] and widths["table"] <= widths["room"], widths  # no sideways scrolling
    assert_accessible(page)
