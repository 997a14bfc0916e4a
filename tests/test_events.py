"""Slack's requests to /slack/events: signed, authorized from the store, answered through the sandbox."""

import json
import time

from unittest import mock

import pytest
from redis.exceptions import RedisError
from django.conf import settings

from installations import models
from sandbox import events
from sandbox.models import ApiCall, Message
from tests.helpers import install, mention, settle, signed_post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def installed(slack, browser):
    assert install(browser, slack).status_code == 200
    return models.Installation.objects.get()


def test_url_verification_is_answered(client):
    response = signed_post(client, {"type": "url_verification", "challenge": "abc123", "token": "t"})

    assert response.status_code == 200
    assert "abc123" in response.content.decode()


def test_app_mention_is_answered_in_the_channel(installed, client):
    response = signed_post(client, mention())

    assert response.status_code == 200
    posted = wait_for(lambda: Message.objects.filter(channel="C0ACMEGEN1").first())
    assert posted is not None and "<@U0ACME0002>" in posted.text
    assert posted.workspace_id == "T0ACME0001"
    assert ApiCall.objects.filter(method="chat.postMessage", ok=True).count() == 1
    assert not ApiCall.objects.filter(method="auth.test").exclude(created_at__lt=posted.created_at).exists()


def test_hello_command_answers_ephemerally(installed, client):
    body = events.slash_command_body("T0ACME0001", "U0ACME0003", "C0ACMEGEN1", "/hello", "")

    response = signed_post(client, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    posted = wait_for(lambda: Message.objects.filter(kind=Message.EPHEMERAL).first())
    assert posted is not None and posted.ephemeral_user == "U0ACME0003" and "Hello" in posted.text


def test_bad_signature_is_refused_and_nothing_happens(installed, client):
    before = ApiCall.objects.count()

    response = signed_post(client, mention(), secret="not-the-signing-secret")
    stale = signed_post(client, mention(), timestamp=int(time.time()) - 600)
    unsigned = client.post("/slack/events", data=json.dumps(mention()), content_type="application/json")

    assert [response.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    settle()  # whatever the requests set off has run
    assert ApiCall.objects.count() == before
    assert not Message.objects.exists()


def test_event_for_a_workspace_that_never_installed_posts_nothing(installed, client):
    response = signed_post(client, mention(team_id="T0GLOBEX01", user_id="U0GLOBEX01"))

    assert response.status_code == 200  # Bolt acks so Slack doesn't retry
    settle()  # whatever the requests set off has run
    assert not Message.objects.exists()


def test_uninstall_removes_the_workspaces_tokens(installed, client):
    response = signed_post(client, events.event_callback_body("T0ACME0001", events.app_uninstalled()))

    assert response.status_code == 200
    assert wait_for(lambda: not models.Installation.objects.exists())
    assert not models.Bot.objects.exists()
    workspace = models.Workspace.objects.get()
    assert workspace.status == models.Workspace.UNINSTALLED
    assert wait_for(lambda: workspace.events.filter(kind=models.InstallationEvent.UNINSTALLED).exists())

    signed_post(client, mention())
    settle()  # whatever the requests set off has run
    assert not Message.objects.exists()


def test_listener_threads_release_their_database_connections(installed, client, settings):
    """The thread that ran a plugin's handler closes its database connection when obsolete."""
    from tests.plugin_examples import DatabasePlugin

    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0  # conftest: every connection is obsolete once used
    settings.PLUGINS = ["tests.plugin_examples"]
    seen = DatabasePlugin.seen
    seen.clear()

    body = events.event_callback_body("T0ACME0001", {"type": "reaction_added", "user": "U0ACME0002", "reaction": "+1"})
    signed_post(client, body)

    assert wait_for(lambda: seen.get("workspaces")) == 1
    assert wait_for(lambda: seen["wrapper"].connection is None), "the listener thread's connection is still open"


def test_org_wide_install_answers_events_from_any_workspace_of_the_org(slack, browser, client):
    assert install(browser, slack, target="E0INITECH1", user="T0INIEAST1:W0INITECH1").status_code == 200
    mention = events.app_mention("T0INIEAST1", "W0INITECH2", "C0INIGEN01", "hi")
    body = events.event_callback_body("T0INIEAST1", mention, enterprise_id="E0INITECH1", is_enterprise_install=True)

    assert signed_post(client, body).status_code == 200

    posted = wait_for(lambda: Message.objects.filter(channel="C0INIGEN01").first())
    assert posted is not None and "<@W0INITECH2>" in posted.text


def test_a_replayed_or_retried_event_is_answered_once(installed, client):
    """Slack retries what it thinks went unanswered, and a signed request can be replayed for 5 minutes."""
    body = mention(text="<@U0BOT> once")

    first = signed_post(client, body)
    replay = signed_post(client, body)
    retry = client.post("/slack/events", data=json.dumps(body), content_type="application/json",
                        headers={**events.sign(json.dumps(body).encode(), settings.SLACK_SIGNING_SECRET),
                                 "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})

    assert [first.status_code, replay.status_code, retry.status_code] == [200, 200, 200]
    assert wait_for(lambda: Message.objects.filter(text__contains="<@U0ACME0002>").exists())
    # A later event, from someone else, is answered after anything the repeats could have started.
    signed_post(client, mention(user_id="U0ACME0003", text="<@U0BOT> later"))
    assert wait_for(lambda: Message.objects.filter(text__contains="<@U0ACME0003>").exists())
    assert Message.objects.filter(text__contains="<@U0ACME0002>").count() == 1


def test_a_repeated_command_is_answered_once(installed, client):
    body = events.slash_command_body("T0ACME0001", "U0ACME0003", "C0ACMEGEN1", "/hello", "")

    responses = [signed_post(client, body, content_type="application/x-www-form-urlencoded") for _ in range(2)]

    assert [response.status_code for response in responses] == [200, 200]
    assert wait_for(lambda: Message.objects.filter(kind=Message.EPHEMERAL).exists())
    other = events.slash_command_body("T0ACME0001", "U0ACME0002", "C0ACMEGEN1", "/hello", "")
    signed_post(client, other, content_type="application/x-www-form-urlencoded")
    assert wait_for(lambda: Message.objects.filter(kind=Message.EPHEMERAL).count() >= 2)
    assert sorted(Message.objects.values_list("ephemeral_user", flat=True)) == ["U0ACME0002", "U0ACME0003"]


def test_events_are_handled_while_the_claim_store_is_down(installed, client, caplog):
    """The worker's claim (one processing per event) lives in the broker's Redis: with it down, an
    event is handled without a claim (a retry may then run twice), never dropped."""
    revoked = events.event_callback_body("T0ACME0001", events.tokens_revoked(user_ids=["U0NOBODY1"]))
    down = mock.Mock(**{"set.side_effect": RedisError("claims are down")})
    with mock.patch("plugins.claims._claims", return_value=down):
        answers = [signed_post(client, revoked).status_code for _ in range(2)]
        answers.append(signed_post(client, events.event_callback_body("T0ACME0001", events.app_uninstalled())).status_code)
        assert wait_for(lambda: models.Workspace.objects.get().status == models.Workspace.UNINSTALLED)
        settle()

    assert answers == [200, 200, 200]
    assert models.Workspace.objects.get().events.filter(kind=models.InstallationEvent.REVOKED).count() == 2
    assert any("Claim store unavailable" in record.getMessage() for record in caplog.records)
