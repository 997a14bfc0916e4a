"""Plugins with Slack Machine's API, driven through the sandbox: a person posts, commands or clicks
(signed requests to /slack/events), the plugins answer through the sandbox's Web API."""

import logging

import pytest

from installations import models
from plugins.models import MissingScope, RoleGrant
from sandbox import events, people
from sandbox.ids import bot_user_id
from sandbox.models import ApiCall, Message, Reaction
from tests.helpers import install, signed_post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TEAM, ALICE, BOB, GENERAL = "T0ACME0001", "U0ACME0001", "U0ACME0002", "C0ACMEGEN1"
BOT = bot_user_id(TEAM)
EXAMPLES = "tests.plugin_examples"


@pytest.fixture
def app(slack, browser, settings):
    """The example plugins beside the built-in ones, installed in Acme by Alice."""
    settings.PLUGINS = [*settings.PLUGINS, EXAMPLES]
    assert install(browser, slack).status_code == 200
    return slack


def bot_posts(**filters):
    return Message.objects.exclude(bot_id="").filter(**filters).order_by("created_at", "pk")


def say(app, text, user=BOB, channel=GENERAL, **kwargs):
    assert people.post_message(app, TEAM, user, channel, text, **kwargs) == 200


def reply_to(app, text, expected, user=BOB, channel=GENERAL):
    """Post `text` and wait for a new post (the bot's, or its answer through a response_url) containing `expected`."""
    before = set(Message.objects.filter(text__contains=expected).values_list("pk", flat=True))
    say(app, text, user=user, channel=channel)
    posted = wait_for(lambda: Message.objects.filter(text__contains=expected).exclude(pk__in=before).first())
    assert posted is not None, f"no reply containing {expected!r} to {text!r}: {list(bot_posts().values_list('text', flat=True))}"
    return posted


def test_ping_gets_pong_and_other_words_get_nothing(app):
    say(app, "ping pong table")  # not a whole-message ping: no reply from ping/pong
    reply_to(app, "ping", "pong")

    assert list(bot_posts(channel=GENERAL).values_list("text", flat=True)) == ["pong"]


def test_named_groups_arrive_as_arguments_in_async_and_plain_handlers(app):
    reply_to(app, "weather in Paris", "async: sunny in Paris")
    posted = reply_to(app, "plain word", "plain: word")

    person_message = Message.objects.get(channel=GENERAL, text="plain word")
    assert wait_for(lambda: Reaction.objects.filter(message=person_message, name="thumbsup").exists())
    assert posted.workspace_id == TEAM


def test_a_mention_is_answered_once_though_slack_sends_message_and_app_mention(app):
    say(app, f"<@{BOT}> echo hello there")

    reply = wait_for(lambda: bot_posts(text="hello there").first())
    assert reply is not None and reply.thread_ts  # reply(in_thread=True)
    # The greeting answers the other mention below: by then both events of the first have been handled.
    reply_to(app, f"<@{BOT}> hi", f"Hi <@{BOB}>")
    assert bot_posts(text="hello there").count() == 1


def test_respond_to_needs_the_mention_first_or_a_dm(app):
    say(app, "echo not for the bot")
    reply_to(app, f"<@{BOT}> hi", "I'm here")  # proves the first message was handled
    assert not bot_posts(text="not for the bot").exists()

    dm = people.channel_for(people.person_in(TEAM, BOB), BOT).channel_id
    reply_to(app, "echo in a dm", "in a dm", channel=dm)


def test_the_bot_never_answers_itself(app, settings):
    # The bot's own "pong" is posted to the channel; Slack sends it back as a message event.
    from sandbox import events

    reply_to(app, "ping", "pong")
    pong = bot_posts(text="pong").get()
    own = events.bot_message(TEAM, "B" + TEAM[1:], GENERAL, "ping", ts=pong.ts)
    own["user"] = BOT
    assert people.send_event(app, people.person_in(TEAM, BOB).workspace, own) == 200
    reply_to(app, "weather in Rome", "sunny in Rome")  # handled after the bot's own message
    assert bot_posts(text="pong").count() == 1


def test_slash_command_answers_through_response_url_and_keeps_storage(app):
    assert people.run_command(app, TEAM, BOB, GENERAL, "/count") == 200
    assert wait_for(lambda: bot_posts(text="count is 1").exists() or Message.objects.filter(text="count is 1").exists())
    assert people.run_command(app, TEAM, BOB, GENERAL, "/count") == 200
    posted = wait_for(lambda: Message.objects.filter(text="count is 2").first())
    assert posted is not None and posted.kind == Message.EPHEMERAL and posted.ephemeral_user == BOB


def test_block_action_matches_ids_and_replaces_the_original(app, settings):
    from installations.slack_api import client_for_workspace

    poll = client_for_workspace(team_id=TEAM).chat_postMessage(channel=GENERAL, text="Vote", blocks=[
        {"type": "actions", "block_id": "poll", "elements": [
            {"type": "button", "action_id": "vote-yes", "text": {"type": "plain_text", "text": "Yes"}, "value": "yes"},
        ]},
        {"type": "actions", "block_id": "other", "elements": [
            {"type": "button", "action_id": "vote-no", "text": {"type": "plain_text", "text": "No"}, "value": "no"},
        ]},
    ])
    assert people.click(app, TEAM, BOB, poll["ts"], "vote-no") == 200  # block_id "other": no handler
    assert people.click(app, TEAM, BOB, poll["ts"], "vote-yes") == 200

    replaced = wait_for(lambda: Message.objects.filter(text="you voted yes").first())
    assert replaced is not None
    assert not Message.objects.filter(text="you voted no").exists()


def test_process_sees_any_event_type(app):
    workspace = people.person_in(TEAM, BOB).workspace
    event = {"type": "reaction_added", "user": BOB, "reaction": "fire", "item": {"type": "message", "channel": GENERAL, "ts": "1.1"}}
    assert people.send_event(app, workspace, event) == 200
    assert wait_for(lambda: bot_posts(text="nice fire").exists())


def test_emit_reaches_on_handlers_of_other_plugins(app):
    reply_to(app, f"<@{BOT}> announce lunch", "heard: lunch")


def test_roles_allow_and_deny(app):
    say(app, f"<@{BOT}> secret", user=BOB)
    denial = wait_for(lambda: Message.objects.filter(text__contains="don't have access").first())
    assert denial is not None and denial.kind == Message.EPHEMERAL and denial.ephemeral_user == BOB
    assert not Message.objects.filter(text__contains="the secret is").exists()

    # Alice installed the app: she is admin, and admins may grant roles.
    reply_to(app, f"<@{BOT}> secret", "the secret is 42", user=ALICE)
    reply_to(app, f"<@{BOT}> grant role spy to <@{BOB}>", "now has role `spy`", user=ALICE)
    reply_to(app, f"<@{BOT}> secret", "the secret is 42", user=BOB)
    assert Message.objects.filter(text__contains="the secret is 42").count() == 2
    assert RoleGrant.objects.filter(user_id=BOB, role="spy").exists()

    # require_all_roles: spy alone is not enough.
    say(app, f"<@{BOT}> topsecret", user=BOB)
    assert wait_for(lambda: Message.objects.filter(text__contains="don't have access").count() == 2)
    reply_to(app, f"<@{BOT}> who has role spy", f"Role `spy`: <@{BOB}>", user=BOB)
    assert not Message.objects.filter(text__contains="top secret").exists()


def test_a_non_admin_cannot_grant_roles(app):
    say(app, f"<@{BOT}> grant role spy to <@{BOB}>", user=BOB)
    assert wait_for(lambda: Message.objects.filter(text__contains="don't have access").exists())
    assert not RoleGrant.objects.exists()


def test_a_failing_plugin_is_logged_and_the_others_still_run(app, caplog):
    with caplog.at_level(logging.ERROR, logger="slackhub.plugins"):
        reply_to(app, "ping", "pong")
        failure = wait_for(lambda: [r for r in caplog.records if "FailingPlugin.explode failed" in r.getMessage()])
    assert failure and TEAM in failure[0].getMessage()
    assert "plugin bug" not in "".join(Message.objects.values_list("text", flat=True))


def test_required_settings_skip_the_plugin_with_a_warning(settings, caplog):
    from plugins.loader import registry

    settings.PLUGINS = [EXAMPLES]
    with caplog.at_level(logging.WARNING, logger="slackhub.plugins"):
        loaded = registry()
    assert "tests.plugin_examples.NeedsSettingPlugin" not in loaded.plugins
    assert "tests.plugin_examples.AsyncPlugin" in loaded.plugins
    warnings = [r.getMessage() for r in caplog.records if "NeedsSettingPlugin" in r.getMessage()]
    assert len(warnings) == 1 and "SETTING_NOBODY_SET" in warnings[0]


@pytest.fixture
def installed_before_examples(slack, browser, settings):
    """Acme installed with the built-in plugins' scopes only; the example plugins are added after."""
    assert install(browser, slack).status_code == 200
    settings.PLUGINS = [*settings.PLUGINS, EXAMPLES]
    return slack


def test_a_workspace_lacking_a_declared_scope_skips_that_plugin(installed_before_examples, caplog):
    app = installed_before_examples
    with caplog.at_level(logging.WARNING, logger="slackhub.plugins"):
        say(app, "react please")
        reply_to(app, "ping", "pong")  # the same person's next message was handled: the first one too
    person_message = Message.objects.get(text="react please")
    assert not Reaction.objects.filter(message=person_message).exists()
    assert not ApiCall.objects.filter(method="reactions.add").exists()  # no call was made
    workspace = models.Workspace.objects.get(team_id=TEAM)
    assert MissingScope.objects.filter(workspace=workspace, scope="reactions:write").exists()
    assert [r for r in caplog.records if "reactions:write" in r.getMessage() and "NeedsScopePlugin" in r.getMessage()]


def test_reinstalling_grants_the_scope_and_the_plugin_runs(installed_before_examples, browser):
    app = installed_before_examples
    say(app, "react please")
    assert wait_for(lambda: MissingScope.objects.exists())

    assert install(browser, app).status_code == 200  # asks for the plugins' scopes now

    assert not MissingScope.objects.exists()
    say(app, "react please")
    second = Message.objects.filter(text="react please").order_by("-pk").first()
    assert wait_for(lambda: Reaction.objects.filter(message=second, name="tada").exists())


def test_a_call_refused_for_missing_scope_tells_the_person_how_to_fix_it(installed_before_examples):
    app = installed_before_examples
    # PlainPlugin.plain reacts without declaring reactions:write: Slack refuses, the person learns why.
    say(app, "plain thing")

    explained = wait_for(lambda: Message.objects.filter(text__contains="reactions:write", kind=Message.EPHEMERAL).first())
    assert explained is not None and explained.ephemeral_user == BOB
    assert "/slack/install" in explained.text
    workspace = models.Workspace.objects.get(team_id=TEAM)
    assert MissingScope.objects.filter(workspace=workspace, scope="reactions:write").exists()
    assert bot_posts(text="plain: thing").exists()  # what it could do, it did


def test_the_console_shows_a_workspaces_plugin_data(app, admin_client, client, support_group):
    from django.contrib.auth.models import User

    reply_to(app, f"<@{BOT}> store lunch at noon under lunch", "stored under lunch")
    reply_to(app, f"<@{BOT}> grant role cook to <@{BOB}>", "now has role `cook`", user=ALICE)
    workspace = models.Workspace.objects.get(team_id=TEAM)
    url = f"/admin/plugins/plugindata/{workspace.pk}/change/"

    page = admin_client.get(url).content.decode()
    assert "plugins.builtin.notes.NotesPlugin" in page and "lunch" in page and "&#x27;lunch at noon&#x27;" in page
    assert "cook" in page and BOB in page

    support = User.objects.create_user("support-person", password="x", is_staff=True)
    support.groups.add(support_group)
    client.force_login(support)
    page = client.get(url).content.decode()
    assert "lunch" in page and "lunch at noon" not in page and "Values are shown to superusers only" in page
    listing = client.get("/admin/plugins/plugindata/").content.decode()
    assert "Acme" in listing


def test_the_console_flags_a_workspace_missing_a_scope(installed_before_examples, admin_client):
    say(installed_before_examples, "react please")
    assert wait_for(lambda: MissingScope.objects.exists())

    listing = admin_client.get("/admin/plugins/plugindata/?missing_scopes=yes").content.decode()
    assert "needs reactions:write" in listing


def test_hello_offers_the_reinstall_link_where_a_scope_is_missing(installed_before_examples):
    assert people.run_command(installed_before_examples, TEAM, BOB, GENERAL, "/hello") == 200
    hello = wait_for(lambda: Message.objects.filter(text__startswith="Hello", kind=Message.EPHEMERAL).first())
    assert hello is not None and "reactions:write" in hello.text and "/slack/install" in hello.text


def test_a_handler_without_storage_costs_no_sql_once_warm(app):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from plugins import dispatch
    from sandbox import events

    workspace = {"enterprise_id": None, "team_id": TEAM, "is_enterprise_install": False, "user_id": BOB}
    ping = lambda: events.event_callback_body(TEAM, events.message(TEAM, BOB, GENERAL, "ping"))  # noqa: E731
    dispatch.handle(ping(), workspace)  # fills the installation cache

    with CaptureQueriesContext(connection) as queries:
        dispatch.handle(ping(), workspace)

    assert [query["sql"] for query in queries.captured_queries] == []
    assert bot_posts(text="pong").count() == 2


def test_workspaces_keep_their_own_notes(app, browser):
    assert install(browser, app, target="T0GLOBEX01", user="T0GLOBEX01:U0GLOBEX01").status_code == 200
    reply_to(app, f"<@{BOT}> store acme secret under plan", "stored under plan")

    globex_bot = bot_user_id("T0GLOBEX01")
    assert people.post_message(app, "T0GLOBEX01", "U0GLOBEX02", "C0GLOBGEN1", f"<@{globex_bot}> retrieve plan") == 200
    answer = wait_for(lambda: bot_posts(channel="C0GLOBGEN1", text__in=["Key not found!", "'acme secret' retrieved from <plan>!"]).first())
    assert answer is not None and answer.text == "Key not found!"
    assert answer.workspace_id == "T0GLOBEX01"


def test_a_command_no_plugin_handles_is_answered_not_silent(app):
    assert people.run_command(app, TEAM, BOB, GENERAL, "/nothing-here") == 200
    answer = wait_for(lambda: Message.objects.filter(text__contains="/nothing-here").exclude(user=BOB).first())
    assert answer is not None and "isn't available" in answer.text and answer.ephemeral_user == BOB


def test_an_async_handler_checks_roles_too(app):
    say(app, f"<@{BOT}> vault", user=BOB)
    assert wait_for(lambda: Message.objects.filter(text__contains="don't have access", ephemeral_user=BOB).exists())
    reply_to(app, f"<@{BOT}> grant role spy to <@{BOB}>", "now has role `spy`", user=ALICE)
    reply_to(app, f"<@{BOT}> vault", "the vault is open", user=BOB)


def test_unauthorized_access_reaches_on_handlers_with_slack_machines_arguments(app):
    from plugins import context
    from plugins.storage import PluginStorage

    say(app, f"<@{BOT}> topsecret", user=BOB)
    assert wait_for(lambda: Message.objects.filter(text__contains="don't have access").exists())
    here = context.for_workspace({"team_id": TEAM})
    with context.bound(here):
        denied = wait_for(lambda: PluginStorage("tests.plugin_examples.PlainPlugin").get("denied", shared=True))
    assert denied == {"user": BOB, "roles": ["spy", "chief"], "any": "All"}


def test_an_edited_mention_is_answered_again_when_the_handler_asks(app):
    from plugins import dispatch
    from sandbox import events

    workspace = {"enterprise_id": None, "team_id": TEAM, "is_enterprise_install": False, "user_id": BOB}
    original = events.message(TEAM, BOB, GENERAL, f"<@{BOT}> calc 1+1")
    dispatch.handle(events.event_callback_body(TEAM, original), workspace)
    edited = {**original, "text": f"<@{BOT}> calc 2+2"}
    dispatch.handle(events.event_callback_body(TEAM, events.message_changed(TEAM, GENERAL, edited, original)), workspace)

    assert list(bot_posts(text__startswith="calc:").values_list("text", flat=True)) == ["calc: 2", "calc: 4"]


def test_a_mention_in_the_middle_is_greeted_not_taken_as_a_command(app):
    say(app, f"should I ask <@{BOT}> echo this?")

    greeting = wait_for(lambda: bot_posts(text__contains="Say `help`").first())
    assert greeting is not None
    assert not bot_posts(text="this?").exists()


def test_an_uninstall_deletes_the_workspaces_storage_and_roles_but_a_late_one_does_not(app, client):
    import time

    from plugins import context
    from plugins.storage import storage_backend

    reply_to(app, f"<@{BOT}> store lunch at noon under lunch", "stored under lunch")
    reply_to(app, f"<@{BOT}> grant role cook to <@{BOB}>", "now has role `cook`", user=ALICE)
    acme_keys = lambda: storage_backend().keys(context.storage_key(None, TEAM) + "|")  # noqa: E731

    late = events.event_callback_body(TEAM, events.app_uninstalled())
    late["event_time"] = int(time.time()) - 3600  # an uninstall from before this install, delivered late
    assert signed_post(client, late).status_code == 200
    assert wait_for(lambda: models.InstallationEvent.objects.filter(kind="uninstalled").exists())
    assert models.Workspace.objects.get(team_id=TEAM).status == models.Workspace.ACTIVE
    reply_to(app, f"<@{BOT}> retrieve lunch", "'lunch at noon' retrieved")
    assert RoleGrant.objects.exists() and acme_keys()

    assert signed_post(client, events.event_callback_body(TEAM, events.app_uninstalled())).status_code == 200
    assert wait_for(lambda: models.Workspace.objects.get(team_id=TEAM).status == models.Workspace.UNINSTALLED)
    assert wait_for(lambda: not RoleGrant.objects.exists())
    assert wait_for(lambda: acme_keys() == [])


def test_stored_dicts_that_look_like_tags_come_back_as_they_were(app):
    from plugins import context
    from plugins.storage import PluginStorage

    notes = PluginStorage("my.plugins.Notes")
    with context.bound(context.for_workspace({"team_id": TEAM})):
        for value in ({"__slackhub__": "bytes", "v": "aGk="}, {"__slackhub__": "nope", "v": 1}):
            notes.set("tricky", value)
            assert notes.get("tricky") == value


def test_plugins_do_not_see_the_services_secrets(settings):
    from plugins.base import MachineBasePlugin

    plugin = MachineBasePlugin()
    assert plugin.settings["slack_app_name"] == settings.SLACK_APP_NAME
    for secret in ("SECRET_KEY", "token_encryption_keys", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET", "DATABASES"):
        assert secret not in plugin.settings and plugin.settings.get(secret) is None
        with pytest.raises(KeyError):
            plugin.settings[secret]


def test_a_plugin_named_twice_in_plugins_answers_once(app, settings):
    settings.PLUGINS = ["plugins.builtin.general", "plugins.builtin.general.PingPongPlugin", "tests.plugin_examples"]
    reply_to(app, "ping", "pong")
    reply_to(app, "weather in Oslo", "sunny in Oslo")  # handled after both pings' handlers ran
    assert bot_posts(text="pong").count() == 1


def test_async_handlers_await_the_web_client_and_read_actions_as_attributes(app):
    from plugins import awaitable, context
    from plugins.base import MachineBasePlugin
    from plugins.block_action import BlockAction

    plugin = MachineBasePlugin()

    async def handler():
        answer = await plugin.web_client.chat_postMessage(channel=GENERAL, text="awaited")
        return answer["ok"]

    here = context.for_workspace({"team_id": TEAM})
    with context.bound(here):
        assert awaitable.run(handler) is True
        assert plugin.web_client.chat_postMessage(channel=GENERAL, text="plain")["ok"]
    action = BlockAction(here, {"user": {"id": BOB}, "actions": [{"value": "yes"}]}, {"value": "yes", "action_id": "a"})
    assert action.triggered_action.value == action.triggered_action["value"] == "yes"
    assert bot_posts(text__in=["awaited", "plain"]).count() == 2


def test_with_an_org_wide_install_roles_hold_in_one_workspace_of_the_org(slack, browser, settings):
    from sandbox.models import Channel as SandboxChannel
    from sandbox.models import User as SandboxUser
    from sandbox.models import Workspace as SandboxWorkspace

    org, east, general_east = "E0INITECH1", "T0INIEAST1", "C0INIGEN01"
    west = SandboxWorkspace.objects.create(team_id="T0INIWEST1", name="Initech West", domain="initech-west", enterprise_id=org)
    SandboxUser.objects.create(user_id="W0INITECH9", name="Samir", workspace=west, is_admin=True, email="samir@initech.example")
    SandboxChannel.objects.create(channel_id="C0INIWST01", name="general", workspace=west)
    assert install(browser, slack, target=org, user=f"{east}:W0INITECH1").status_code == 200
    bot = bot_user_id(org)

    # Samir is an admin of West: he may give roles there, and they hold there only.
    assert people.post_message(slack, "T0INIWEST1", "W0INITECH9", "C0INIWST01", f"<@{bot}> grant role cook to <@W0INITECH2>") == 200
    assert wait_for(lambda: Message.objects.filter(text__contains="now has role `cook`").exists())
    assert people.post_message(slack, east, "W0INITECH2", general_east, f"<@{bot}> who has role cook") == 200
    assert wait_for(lambda: Message.objects.filter(text="Nobody has role `cook`.").exists())

    # In East (a channel shared with him, say), Samir's admin flag (West's) counts for nothing.
    from plugins import dispatch
    from sandbox import events

    asked = events.message(east, "W0INITECH9", general_east, f"<@{bot}> grant role cook to <@W0INITECH2>")
    dispatch.handle(events.event_callback_body(east, asked, enterprise_id=org, is_enterprise_install=True),
                    {"enterprise_id": org, "team_id": east, "is_enterprise_install": True, "user_id": "W0INITECH9"})
    # Denied: the refusal went to him (the sandbox's East channel does not have him, so Slack refuses it).
    assert ApiCall.objects.filter(method="chat.postEphemeral").exists()
    assert list(RoleGrant.objects.values_list("team_id", "user_id", "role")) == [("T0INIWEST1", "W0INITECH2", "cook")]


def test_an_external_select_asking_for_options_is_answered_in_the_ack(app, client):
    payload = {"type": "block_suggestion", "team": {"id": TEAM}, "user": {"id": BOB, "team_id": TEAM},
               "api_app_id": "A0SANDBOX1", "action_id": "pick", "block_id": "b", "value": "lu", "token": "t"}
    response = signed_post(client, events.interaction_body(payload), content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200 and response.json() == {"options": []}
