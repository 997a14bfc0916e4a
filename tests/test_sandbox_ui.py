"""The sandbox as a small Slack, in headless Chromium: a person talks to the app's plugins and sees
what Slack would show, without reloading. Screenshots land in test-artifacts/screenshots/sandbox-*.

The conversations use the built-in plugins (ping/pong, the mention greeting, /hello) and two small
plugins below (a button, a reminder), loaded through the PLUGINS setting.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from plugins.base import MachineBasePlugin
from plugins.decorators import action, listen_to
from sandbox.models import Message, Token
from sandbox.testing import SandboxWorkspace
from tests.helpers import assert_accessible, needs_chromium, screenshot

BUILTIN = ["plugins.builtin.greeting", "plugins.builtin.general"]

pytestmark = [
    needs_chromium,
    pytest.mark.django_db(transaction=True),
]


class ButtonPlugin(MachineBasePlugin):
    """A message with a button; the click's answer replaces it."""

    @listen_to(r"^menu$")
    async def menu(self, msg):
        await msg.say("Lunch?", blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Lunch?* :fork_and_knife:"}},
            {"type": "actions", "block_id": "lunch", "elements": [
                {"type": "button", "action_id": "lunch-yes", "text": {"type": "plain_text", "text": "Count me in"},
                 "value": "yes", "style": "primary"}]},
        ])

    @action(action_id="lunch-yes")
    async def yes(self, action):
        await action.say("See you at noon", replace_original=True)


class ReminderPlugin(MachineBasePlugin):
    """A message scheduled a few seconds ahead (Slack's chat.scheduleMessage)."""

    @listen_to(r"^remind me$")
    async def remind(self, msg):
        await msg.say_scheduled(timezone.now() + timedelta(seconds=3), "Time to stretch")


@pytest.fixture
def acme(slack, settings):
    """Acme Corp with the app installed (plugins: the built-in ones and this module's)."""
    settings.PLUGINS = [*BUILTIN, "tests.test_sandbox_ui"]
    return SandboxWorkspace(slack, "T0ACME0001").install()




def open_channel(page, base_url, channel="C0ACMEGEN1", person="U0ACME0002", team="T0ACME0001"):
    page.goto(f"{base_url}/sandbox/w/{team}/{channel}/?as={person}")
    page.evaluate("window.notReloaded = true")  # gone if the page reloads


def send(page, text, composer="#composer"):
    page.locator(composer).fill(text)
    page.locator(composer).press("Enter")


def messages(page):
    return page.locator("#region-messages")


def test_a_conversation_renders_as_slack_shows_it_and_passes_axe(acme, page):
    acme.install(scopes=["chat:write", "commands", "reactions:write", "pins:write", "channels:write.topic"])
    bot = Token.objects.filter(workspace="T0ACME0001", kind=Token.BOT, revoked=False).latest("created_at").token
    api = acme.service_url + "/sandbox/api/"
    from slack_sdk import WebClient

    web = WebClient(token=bot, base_url=api)
    first = web.chat_postMessage(channel="C0ACMEGEN1", text="Hi <@U0ACME0002>, *bold* _italic_ `code` :wave: see <#C0ACMERND1|random> and <https://example.com|the docs>")
    web.chat_postMessage(channel="C0ACMEGEN1", text="in a thread", thread_ts=first["ts"])
    web.chat_postMessage(channel="C0ACMEGEN1", text="fallback", blocks=[
        {"type": "header", "text": {"type": "plain_text", "text": "Release"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "Ship *today*?"}, "fields": [
            {"type": "mrkdwn", "text": "*Owner*\nGrace"}, {"type": "mrkdwn", "text": "*When*\n5pm"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Asked by <@U0ACME0001>"}]},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "ship", "text": {"type": "plain_text", "text": "Ship it"}, "value": "go"},
            {"type": "static_select", "action_id": "when", "placeholder": {"type": "plain_text", "text": "Pick a time"},
             "options": [{"text": {"type": "plain_text", "text": "Now"}, "value": "now"},
                         {"text": {"type": "plain_text", "text": "Later"}, "value": "later"}]}]},
    ])
    edited = web.chat_postMessage(channel="C0ACMEGEN1", text="first draft")
    web.chat_update(channel="C0ACMEGEN1", ts=edited["ts"], text="second draft")
    gone = web.chat_postMessage(channel="C0ACMEGEN1", text="oops")
    web.chat_delete(channel="C0ACMEGEN1", ts=gone["ts"])
    web.reactions_add(channel="C0ACMEGEN1", timestamp=first["ts"], name="thumbsup")
    web.pins_add(channel="C0ACMEGEN1", timestamp=first["ts"])
    web.conversations_setTopic(channel="C0ACMEGEN1", topic="Release day :rocket:")

    open_channel(page, acme.service_url)

    listed = messages(page)
    expect(listed.locator(".mention").first).to_have_text("@Grace")
    expect(listed.locator("strong").first).to_have_text("bold")
    expect(listed.locator("em").first).to_have_text("italic")
    expect(listed.locator("code").first).to_have_text("code")
    expect(listed.get_by_role("img", name="wave")).to_have_text("👋")
    expect(listed.get_by_role("link", name="#random")).to_be_visible()
    expect(listed.get_by_role("link", name="the docs")).to_have_attribute("href", "https://example.com")
    expect(listed.get_by_role("link", name="1 reply")).to_be_visible()
    expect(listed.locator(".reactions")).to_contain_text("👍")
    expect(listed.get_by_text("Release", exact=True)).to_be_visible()
    expect(listed.get_by_role("button", name="Ship it")).to_be_visible()
    expect(listed.get_by_label("Pick a time")).to_be_visible()
    expect(listed.get_by_text("second draft")).to_be_visible()
    expect(listed.get_by_text("(edited)")).to_be_visible()
    expect(listed.get_by_text("This message was deleted.")).to_be_visible()
    expect(page.locator(".topic")).to_contain_text("Release day 🚀")
    expect(page.locator(".pins")).to_contain_text("1 pinned")
    screenshot(page, "sandbox-channel")
    assert_accessible(page)

    listed.get_by_role("link", name="1 reply").click()
    expect(page.get_by_role("heading", name="Thread")).to_be_visible()
    expect(page.locator("#region-thread")).to_contain_text("in a thread")
    screenshot(page, "sandbox-thread")
    assert_accessible(page)


def test_type_ping_and_pong_appears_without_a_reload(acme, page):
    open_channel(page, acme.service_url)

    # From the keyboard: Tab reaches the composer, Enter sends.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "composer":
            break
    expect(page.locator("#composer")).to_be_focused()
    page.keyboard.type("ping")
    page.keyboard.press("Enter")

    expect(messages(page).locator(".from-app").filter(has_text="pong")).to_be_visible()
    expect(messages(page).get_by_text("ping", exact=True)).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "sandbox-ping-pong")


def test_mention_the_bot_and_the_greeting_appears(acme, page):
    open_channel(page, acme.service_url)

    send(page, "@slackhub hi")

    expect(messages(page).locator(".from-app").filter(has_text="Hi @Grace! I'm here.")).to_be_visible()
    expect(page.locator("#region-app")).to_contain_text("app_mention event")  # the log of what the app was told
    screenshot(page, "sandbox-mention")


def test_click_a_button_and_its_reply_replaces_the_message(acme, page):
    open_channel(page, acme.service_url)
    send(page, "menu")
    button = messages(page).get_by_role("button", name="Count me in")
    expect(button).to_be_visible()

    button.focus()
    page.keyboard.press("Enter")

    expect(messages(page).get_by_text("See you at noon")).to_be_visible()
    expect(messages(page).get_by_role("button", name="Count me in")).to_have_count(0)
    assert Message.objects.filter(text="See you at noon").count() == 1  # replaced, not added
    screenshot(page, "sandbox-button-replaced")


def test_a_scheduled_message_shows_up_when_due(acme, page):
    open_channel(page, acme.service_url)

    send(page, "remind me")

    expect(page.locator(".scheduled")).to_contain_text("Time to stretch")  # waiting, in the header
    expect(messages(page).get_by_text("Time to stretch")).to_be_visible()  # then posted, without a reload
    expect(page.locator(".scheduled")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True


def test_an_ephemeral_reply_is_visible_to_its_person_only(acme, page):
    open_channel(page, acme.service_url, person="U0ACME0002")
    send(page, "/hello")
    hello = messages(page).locator(".ephemeral").filter(has_text="Hello, @Grace!")
    expect(hello).to_be_visible()
    expect(hello).to_contain_text("Only visible to you")
    send(page, "ping")  # something everyone sees, after the ephemeral one
    expect(messages(page).locator(".from-app").filter(has_text="pong")).to_be_visible()

    page.get_by_label("You are").select_option("U0ACME0003")
    page.get_by_role("button", name="Switch").click()

    expect(page.get_by_label("Message #general as Linus")).to_be_visible()
    expect(messages(page).locator(".from-app").filter(has_text="pong")).to_be_visible()
    expect(messages(page).get_by_text("Hello, @Grace!")).to_have_count(0)
    screenshot(page, "sandbox-ephemeral-other-person")
    assert_accessible(page)


def test_dm_the_bot_and_uninstall_from_the_same_page(acme, page):
    open_channel(page, acme.service_url)
    page.get_by_role("link", name="slackhub App").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("slackhub (DM)")

    send(page, "ping")
    expect(messages(page).locator(".from-app").filter(has_text="pong")).to_be_visible()

    page.get_by_role("button", name="Uninstall slackhub").click()
    expect(page.locator("#notice")).to_contain_text("slackhub was removed from Acme Corp")
    expect(page.get_by_role("link", name="Install slackhub")).to_be_visible()
    expect(page.locator("#region-app")).to_contain_text("tokens_revoked event")
    screenshot(page, "sandbox-uninstalled")
    assert_accessible(page)


def test_the_consent_page_offers_the_chosen_workspace_s_people_and_passes_axe(slack, page):
    page.goto(f"{slack}/slack/install")
    page.get_by_role("link", name="Add to Slack").click()

    page.get_by_label("Install on").select_option("T0GLOBEX01")

    people = page.get_by_label("Install as").locator("option")
    expect(people).to_have_text(["Hank", "Marge"])
    screenshot(page, "sandbox-consent")
    assert_accessible(page)
