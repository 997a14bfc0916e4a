"""`DjangoInstallationStore`: slack_sdk's InstallationStore contract, field for field."""

import os
import threading
import time
from datetime import datetime, timezone

import pytest
from django.db import connection
from slack_sdk.oauth.installation_store import Bot

from installations import models
from installations.stores import DjangoInstallationStore, DjangoOAuthStateStore, RedisOAuthStateStore
from tests.helpers import INSTALLED_AT, an_installation, needs_redis

pytestmark = pytest.mark.django_db

@pytest.fixture
def store():
    return DjangoInstallationStore(client_id="111.222")


def test_every_field_round_trips(store):
    saved = an_installation()
    store.save(saved)

    found = store.find_installation(enterprise_id="E0001", team_id="T0001")

    assert found.to_dict() == saved.to_dict()
    assert found.custom_values == {"plan": "pro", "seats": 12}
    bot = store.find_bot(enterprise_id="E0001", team_id="T0001")
    assert bot.to_dict() == saved.to_bot().to_dict()


def test_round_trip_is_exact_whatever_the_time_zone(store, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        store.save(an_installation())
        found = store.find_installation(enterprise_id="E0001", team_id="T0001")
    finally:
        os.environ.pop("TZ") if previous is None else os.environ.__setitem__("TZ", previous)
        time.tzset()

    assert found.installed_at == INSTALLED_AT
    assert found.bot_token_expires_at == 1_763_043_200
    row = models.Installation.objects.get()
    assert row.installed_at == datetime.fromtimestamp(INSTALLED_AT, tz=timezone.utc)


def test_resave_of_the_same_installation_updates_in_place(store):
    store.save(an_installation())
    store.save(an_installation(bot_token="xoxb-bot-2", bot_token_expires_at=1_763_100_000))

    assert models.Installation.objects.count() == 1 and models.Bot.objects.count() == 1
    assert store.find_installation(enterprise_id="E0001", team_id="T0001").bot_token == "xoxb-bot-2"


def test_history_is_kept_and_the_latest_wins(store):
    store.save(an_installation(bot_token="xoxb-old", installed_at=INSTALLED_AT - 100))
    store.save(an_installation(bot_token="xoxb-new"))

    assert models.Installation.objects.count() == 2
    assert store.find_installation(enterprise_id="E0001", team_id="T0001").bot_token == "xoxb-new"
    assert store.find_bot(enterprise_id="E0001", team_id="T0001").bot_token == "xoxb-new"


def test_two_users_installing_the_same_workspace(store):
    store.save(an_installation(user_id="U0001", user_token="xoxp-first", bot_token="xoxb-old", installed_at=INSTALLED_AT - 100))
    store.save(an_installation(user_id="U0002", user_token="xoxp-second", bot_token="xoxb-new"))

    first = store.find_installation(enterprise_id="E0001", team_id="T0001", user_id="U0001")
    second = store.find_installation(enterprise_id="E0001", team_id="T0001", user_id="U0002")

    assert first.user_token == "xoxp-first" and second.user_token == "xoxp-second"
    # The first user's row holds an old bot token; the latest bot's is returned (bolt-python #664).
    assert first.bot_token == "xoxb-new"
    assert store.find_installation(enterprise_id="E0001", team_id="T0001", user_id="U0003") is None


def test_user_only_installation_borrows_the_latest_bot(store):
    store.save(an_installation())
    store.save(an_installation(user_id="U0002", user_token="xoxp-2", bot_token=None, bot_id=None,
                               bot_user_id=None, bot_scopes=None, bot_refresh_token=None,
                               bot_token_expires_at=None, installed_at=INSTALLED_AT + 10))

    latest = store.find_installation(enterprise_id="E0001", team_id="T0001")

    assert latest.user_id == "U0002" and latest.bot_token == "xoxb-bot-1" and latest.bot_id == "B0001"
    assert store.find_bot(enterprise_id="E0001", team_id="T0001").bot_token == "xoxb-bot-1"


def test_find_bot_skips_rows_without_a_bot_token(store):
    store.save_bot(Bot(enterprise_id=None, team_id="T0002", bot_token="xoxb-real", bot_id="B1", bot_user_id="U1",
                       installed_at=INSTALLED_AT))
    store.save_bot(Bot(enterprise_id=None, team_id="T0002", bot_token=None, bot_id="B1", bot_user_id="U1",
                       installed_at=INSTALLED_AT + 1))

    assert store.find_bot(enterprise_id=None, team_id="T0002").bot_token == "xoxb-real"


def test_org_wide_installs_ignore_the_team_and_empty_means_none(store):
    store.save(an_installation(team_id=None, team_name=None, is_enterprise_install=True))

    for team_id in (None, "", "T0ANY"):
        found = store.find_installation(enterprise_id="E0001", team_id=team_id, is_enterprise_install=True)
        assert found is not None and found.is_enterprise_install
    assert store.find_installation(enterprise_id="E0001", team_id="T0ANY") is None
    assert store.find_bot(enterprise_id="E0001", team_id="", is_enterprise_install=False).bot_token == "xoxb-bot-1"


def test_client_ids_are_isolated(store):
    other_app = DjangoInstallationStore(client_id="999.999")
    store.save(an_installation())

    assert other_app.find_installation(enterprise_id="E0001", team_id="T0001") is None
    assert other_app.find_bot(enterprise_id="E0001", team_id="T0001") is None
    other_app.delete_all(enterprise_id="E0001", team_id="T0001")
    assert store.find_installation(enterprise_id="E0001", team_id="T0001") is not None


def test_a_refresh_saved_for_one_user_never_nulls_the_installers_token(store):
    store.save(an_installation())
    # What Bolt's authorize saves after rotating for a requester who isn't the installer:
    rotated = an_installation(bot_token="xoxb-rotated", user_token=None, user_refresh_token=None,
                              user_token_expires_at=None, user_scopes=None)
    store.save(rotated)

    found = store.find_installation(enterprise_id="E0001", team_id="T0001", user_id="U0001")
    assert found.bot_token == "xoxb-rotated"
    assert found.user_token == "xoxp-user-1" and found.user_refresh_token == "xoxe-1-user-refresh"


def test_deletes_leave_other_teams_alone(store):
    store.save(an_installation())
    store.save(an_installation(user_id="U0002", user_token="xoxp-2", installed_at=INSTALLED_AT + 1))
    store.save(an_installation(team_id="T0OTHER", bot_token="xoxb-other"))

    store.delete_installation(enterprise_id="E0001", team_id="T0001", user_id="U0002")
    assert store.find_installation(enterprise_id="E0001", team_id="T0001", user_id="U0002") is None
    assert store.find_installation(enterprise_id="E0001", team_id="T0001", user_id="U0001") is not None

    store.delete_bot(enterprise_id="E0001", team_id="T0001")
    assert store.find_bot(enterprise_id="E0001", team_id="T0001") is None

    store.delete_installation(enterprise_id="E0001", team_id="T0001")
    assert store.find_installation(enterprise_id="E0001", team_id="T0001") is None

    store.save(an_installation(installed_at=INSTALLED_AT + 5))
    store.delete_all(enterprise_id="E0001", team_id="T0001")
    assert store.find_installation(enterprise_id="E0001", team_id="T0001") is None
    assert store.find_bot(enterprise_id="E0001", team_id="T0001") is None
    assert store.find_installation(enterprise_id="E0001", team_id="T0OTHER").bot_token == "xoxb-other"
    assert store.find_bot(enterprise_id="E0001", team_id="T0OTHER").bot_token == "xoxb-other"


def test_workspace_row_and_audit_trail_follow_installs(store):
    store.save(an_installation(installed_at=INSTALLED_AT - 100))
    store.save(an_installation(bot_scopes="chat:write,commands,users:read"))
    store.delete_all(enterprise_id="E0001", team_id="T0001")

    workspace = models.Workspace.objects.get()
    assert workspace.status == models.Workspace.UNINSTALLED
    kinds = list(workspace.events.order_by("id").values_list("kind", flat=True))
    assert kinds == [models.InstallationEvent.INSTALLED, models.InstallationEvent.SCOPES_CHANGED]
    assert "added: users:read" in workspace.events.order_by("id").last().detail


def test_tokens_are_encrypted_in_the_database(store):
    store.save(an_installation())

    with connection.cursor() as cursor:
        cursor.execute("SELECT bot_token, user_token, bot_refresh_token, incoming_webhook_url FROM installations_installation")
        raw = cursor.fetchone()
    assert all(value and "xox" not in value and "hooks.slack.com" not in value for value in raw)


# --- OAuth state ------------------------------------------------------------------------------


def test_state_is_consumed_exactly_once():
    states = DjangoOAuthStateStore(expiration_seconds=60)
    state = states.issue()

    assert states.consume(state) is True
    assert states.consume(state) is False
    assert states.consume("never-issued") is False


def test_expired_state_is_refused_and_purged():
    states = DjangoOAuthStateStore(expiration_seconds=-1)
    state = states.issue()

    assert states.consume(state) is False
    models.OAuthState.objects.create(state="old", expire_at=datetime(2020, 1, 1, tzinfo=timezone.utc))
    from django.core.management import call_command

    call_command("purge_oauth_states")
    assert not models.OAuthState.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_consumes_of_one_state_one_wins():
    states = DjangoOAuthStateStore(expiration_seconds=60)
    for _ in range(5):
        state = states.issue()
        results, barrier = [], threading.Barrier(4)

        def consume():
            barrier.wait()
            results.append(states.consume(state))
            connection.close()

        threads = [threading.Thread(target=consume) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(results) == [False, False, False, True]


@needs_redis
def test_redis_state_store_consumes_once_and_expires():
    states = RedisOAuthStateStore(expiration_seconds=1)
    state, expiring = states.issue(), states.issue()
    results, barrier = [], threading.Barrier(4)

    def consume():
        barrier.wait()
        results.append(states.consume(state))

    threads = [threading.Thread(target=consume) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [False, False, False, True]
    time.sleep(1.1)
    assert states.consume(expiring) is False


# --- the process's stores ----------------------------------------------------------------------


def test_the_process_has_one_store_of_each_kind_rebuilt_when_their_settings_change(settings):
    from installations.cache import CacheableInstallationStore
    from installations.stores import installation_store, oauth_state_store

    store = installation_store()
    assert isinstance(store, CacheableInstallationStore) and installation_store() is store
    assert store.client_id == settings.SLACK_CLIENT_ID
    assert isinstance(oauth_state_store(), RedisOAuthStateStore if settings.REDIS_URL else DjangoOAuthStateStore)
    assert oauth_state_store() is oauth_state_store()

    settings.SLACK_CLIENT_ID = "333.444"
    settings.SLACK_STATE_EXPIRATION_SECONDS = 42

    assert installation_store() is not store and installation_store().client_id == "333.444"
    assert oauth_state_store().expiration_seconds == 42


def test_installations_imports_nothing_from_the_layers_above_it():
    import ast
    from pathlib import Path

    import installations

    above = ("bolt_app", "plugins", "config", "sandbox", "background", "bench")
    offending = []
    for path in Path(installations.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offending += [f"{path.name}: {name}" for name in names if name.split(".")[0] in above]
    assert offending == []
