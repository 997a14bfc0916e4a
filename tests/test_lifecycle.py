"""Token lifecycle: scheduled refresh, revocation, late and out-of-order uninstall events, audit."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from installations.stores import installation_store
from installations import models
from installations.slack_api import client_for_workspace
from installations.uninstall import uninstall_workspace
from sandbox import events
from sandbox.models import ApiCall, Message, Token
from tests.helpers import install, mention, signed_post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ACME, GLOBEX = "T0ACME0001", "T0GLOBEX01"
Kind = models.InstallationEvent


def refreshes():
    return ApiCall.objects.filter(method="oauth.v2.access", grant_type="refresh_token", ok=True).count()


def expire(team_id, minutes):
    """The workspace's tokens expire in `minutes`, as if time had passed (the cache forgets them)."""
    soon = timezone.now() + timedelta(minutes=minutes)
    for model in (models.Bot, models.Installation):
        model.objects.filter(team_id=team_id).update(bot_token_expires_at=soon)
    models.Installation.objects.filter(team_id=team_id).update(user_token_expires_at=soon)
    installation_store().workspace_changed(None, team_id)


def test_refresh_tokens_refreshes_only_what_is_due(rotating, browser):
    install(browser, rotating)
    install(browser, rotating, target=GLOBEX, user=f"{GLOBEX}:U0GLOBEX01")
    expire(ACME, minutes=30)
    expire(GLOBEX, minutes=600)
    acme_before = models.Installation.objects.get(team_id=ACME)

    call_command("refresh_tokens", "--within", "60")

    assert refreshes() == 2  # Acme's bot token and Acme's installer's user token
    acme = models.Installation.objects.get(team_id=ACME)
    assert acme.bot_token != acme_before.bot_token and acme.user_token != acme_before.user_token
    assert acme.bot_token_expires_at > timezone.now() + timedelta(hours=2)
    assert models.Workspace.objects.get(team_id=GLOBEX).events.filter(kind=Kind.REFRESHED).count() == 0

    call_command("refresh_tokens", "--within", "60")  # nothing left to do: a cron rerun is harmless
    assert refreshes() == 2


def test_a_helper_gives_code_outside_listeners_a_ready_client(rotating, browser):
    install(browser, rotating)
    expire(ACME, minutes=1)

    client = client_for_workspace(team_id=ACME)

    assert refreshes() == 2  # the bot token, and the installer's user token that was due too
    assert models.Bot.objects.get().bot_token_expires_at > timezone.now() + timedelta(hours=2)
    assert client.auth_test()["team_id"] == ACME
    with pytest.raises(LookupError):
        client_for_workspace(team_id=GLOBEX)


def test_tokens_revoked_removes_just_what_was_revoked(rotating, browser, client):
    install(browser, rotating)
    user_revoked = events.event_callback_body(ACME, events.tokens_revoked(user_ids=["U0ACME0001"]))

    signed_post(client, user_revoked)

    row = wait_for(lambda: models.Installation.objects.filter(user_token__isnull=True).first())
    assert row is not None and row.bot_token  # the bot keeps working
    assert row.user_refresh_token is None

    signed_post(client, events.event_callback_body(ACME, events.tokens_revoked(bot_user_ids=["UB0ACME0001"])))

    assert wait_for(lambda: not models.Bot.objects.exists())
    assert not models.Installation.objects.exists()  # nothing usable was left in it
    assert wait_for(lambda: models.InstallationEvent.objects.filter(kind=Kind.REVOKED).count() == 2)
    kinds = list(models.InstallationEvent.objects.filter(kind=Kind.REVOKED))
    assert "U0ACME0001" in kinds[-1].detail + kinds[0].detail


def test_a_late_uninstall_event_never_deletes_a_newer_install(rotating, browser, client):
    install(browser, rotating)
    late = events.event_callback_body(ACME, events.app_uninstalled())
    late["event_time"] = int(time.time()) - 3600  # the uninstall that preceded this install

    signed_post(client, late)
    signed_post(client, events.event_callback_body(ACME, events.tokens_revoked(bot_user_ids=["UB0ACME0001"])) | {
        "event_time": int(time.time()) - 3600})

    # Both were handled (each leaves a line in the audit trail), and touched nothing.
    assert wait_for(lambda: models.InstallationEvent.objects.filter(kind__in=[Kind.UNINSTALLED, Kind.REVOKED]).count() == 2)
    assert models.Installation.objects.get().bot_token
    assert installation_store().find_bot(enterprise_id=None, team_id=ACME) is not None
    assert models.Workspace.objects.get().status == models.Workspace.ACTIVE


def test_tokens_revoked_after_app_uninstalled_is_harmless(rotating, browser, client):
    install(browser, rotating)
    uninstalled = events.event_callback_body(ACME, events.app_uninstalled())
    revoked = events.event_callback_body(ACME, events.tokens_revoked(user_ids=["U0ACME0001"], bot_user_ids=["UB0ACME0001"]))

    assert signed_post(client, uninstalled).status_code == 200
    assert wait_for(lambda: not models.Installation.objects.exists())
    assert signed_post(client, revoked).status_code == 200

    assert wait_for(lambda: models.InstallationEvent.objects.filter(kind=Kind.REVOKED).exists())  # handled
    workspace = models.Workspace.objects.get()
    assert workspace.status == models.Workspace.UNINSTALLED
    assert not models.Bot.objects.exists()


def test_org_wide_installs_are_cleaned_up_by_enterprise(rotating, browser, client):
    install(browser, rotating, target="E0INITECH1", user="T0INIEAST1:W0INITECH1")
    body = events.event_callback_body("T0INIEAST1", events.app_uninstalled(), enterprise_id="E0INITECH1",
                                      is_enterprise_install=True)

    signed_post(client, body)

    assert wait_for(lambda: not models.Installation.objects.exists())
    assert models.Workspace.objects.get(enterprise_id="E0INITECH1").status == models.Workspace.UNINSTALLED


def test_operator_uninstall_revokes_at_slack_then_deletes(rotating, browser):
    install(browser, rotating)
    workspace = models.Workspace.objects.get()

    assert uninstall_workspace(installation_store(), workspace, actor="operator:ada") is True

    assert not models.Installation.objects.exists() and not models.Bot.objects.exists()
    assert not Token.objects.filter(revoked=False, workspace_id=ACME).exists()
    event = workspace.events.get(kind=Kind.UNINSTALLED)
    assert event.actor == "operator:ada" and "revoked at Slack" in event.detail


def test_operator_uninstall_still_deletes_when_slack_is_unreachable(rotating, browser, settings):
    install(browser, rotating)
    workspace = models.Workspace.objects.get()
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"

    assert uninstall_workspace(installation_store(), workspace, actor="operator:ada") is False

    assert not models.Installation.objects.exists()
    assert "could not confirm" in workspace.events.get(kind=Kind.UNINSTALLED).detail


def test_the_audit_trail_tells_the_story(rotating, browser, client, settings):
    install(browser, rotating)
    settings.SLACK_SCOPES = settings.SLACK_SCOPES + ["reactions:read"]
    install(browser, rotating)
    expire(ACME, minutes=1)
    call_command("refresh_tokens")
    signed_post(client, events.event_callback_body(ACME, events.app_uninstalled()))
    wait_for(lambda: models.InstallationEvent.objects.filter(kind=Kind.UNINSTALLED).exists())

    trail = list(models.Workspace.objects.get().events.order_by("id").values_list("kind", "actor", "detail"))

    assert [kind for kind, _, _ in trail] == [Kind.INSTALLED, Kind.SCOPES_CHANGED, Kind.REFRESHED, Kind.UNINSTALLED]
    assert trail[0][1] == "U0ACME0001" and "added: reactions:read" in trail[1][2]
    assert trail[2][1] == "refresh_tokens" and trail[3][1] == "slack"
    tokens = set(Token.objects.values_list("token", flat=True)) | set(
        Token.objects.exclude(refresh_token=None).values_list("refresh_token", flat=True))
    assert not any(token in detail for _, _, detail in trail for token in tokens)


def test_a_bot_left_without_installations_still_answers_and_rotates_like_bolt(rotating, browser, client):
    # slack_sdk's delete_installation leaves the bot rows; Bolt's authorize then falls back to
    # find_bot, and so does ours (rotating a due bot token on the way).
    assert install(browser, rotating).status_code == 200
    installation_store().delete_installation(enterprise_id=None, team_id=ACME)
    assert not models.Installation.objects.exists() and models.Bot.objects.exists()
    first_token = models.Bot.objects.get().bot_token
    expire(ACME, minutes=5)

    assert signed_post(client, mention(ACME, text="<@UB0ACME0001> hi")).status_code == 200

    assert wait_for(lambda: Message.objects.filter(channel="C0ACMEGEN1", text__contains="<@U0ACME0002>").exists())
    assert refreshes() == 1
    assert models.Bot.objects.get().bot_token != first_token


def test_slack_unreachable_mid_rotation_keeps_what_was_already_rotated(rotating, browser, monkeypatch):
    """The bot token is rotated, then Slack stops answering before the user token: the new bot token
    must be saved (its old refresh token is spent at Slack), and the error still reported."""
    from urllib.error import URLError

    from installations import rotation

    install(browser, rotating)
    expire("T0ACME0001", minutes=5)
    old_bot_token = models.Bot.objects.get().bot_token
    real_refresh, calls = rotation._refresh, []

    def bot_then_unreachable(refresh_token):
        calls.append(refresh_token)
        if len(calls) > 1:
            raise URLError("Slack unreachable")
        return real_refresh(refresh_token)

    monkeypatch.setattr(rotation, "_refresh", bot_then_unreachable)
    with pytest.raises(URLError):
        rotation.refresh_workspace(installation_store(), None, "T0ACME0001", actor="test")

    bot = models.Bot.objects.get()
    assert bot.bot_token != old_bot_token
    assert Token.objects.filter(token=bot.bot_token, revoked=False).exists()  # the one Slack issued
    assert models.Workspace.objects.get().status == models.Workspace.ACTIVE
