"""`CacheableInstallationStore`: right across writes, copies, misses, outages; free when warm."""

import re
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from installations import models
from installations.cache import CacheableInstallationStore
from sandbox.models import ApiCall
from tests.conftest import cached_installations, install, mention, needs_redis, signed_post, wait_for
from tests.test_store import an_installation

pytestmark = pytest.mark.django_db

IDS = dict(enterprise_id="E0001", team_id="T0001")


@pytest.fixture
def store():
    return CacheableInstallationStore(client_id="111.222")


def test_a_warm_cache_answers_without_sql(store, django_assert_num_queries):
    store.save(an_installation())
    store.find_authorization(user_id="U0001", **IDS)
    store.find_installation(**IDS)
    store.find_bot(**IDS)

    with django_assert_num_queries(0):
        latest, mine = store.find_authorization(user_id="U0001", **IDS)
        assert store.find_installation(**IDS).bot_token == "xoxb-bot-1"
        assert store.find_bot(**IDS).bot_token == "xoxb-bot-1"
    assert latest.bot_token == "xoxb-bot-1" and mine.user_token == "xoxp-user-1"


def test_a_save_invalidates_the_workspace_level_entries_too(store):
    store.save(an_installation())
    assert store.find_installation(**IDS).bot_token == "xoxb-bot-1"
    assert store.find_installation(user_id="U0001", **IDS).bot_token == "xoxb-bot-1"

    # A rotation: the same installation re-saved with a new bot token (slack_sdk's cache keeps
    # serving the old workspace-level entry here, so every event refreshes again).
    store.save(an_installation(bot_token="xoxb-rotated"))

    assert store.find_installation(**IDS).bot_token == "xoxb-rotated"
    assert store.find_installation(user_id="U0001", **IDS).bot_token == "xoxb-rotated"
    assert store.find_bot(**IDS).bot_token == "xoxb-rotated"
    assert store.find_authorization(user_id="U0001", **IDS)[0].bot_token == "xoxb-rotated"


def test_what_it_returns_is_a_copy(store):
    store.save(an_installation())
    found = store.find_installation(**IDS)
    found.user_token = None  # Bolt's authorize does this to the object it gets
    found.bot_token = "mutated"

    again = store.find_installation(**IDS)
    assert again.user_token == "xoxp-user-1" and again.bot_token == "xoxb-bot-1"


def test_misses_are_cached_and_a_save_ends_them(store, django_assert_num_queries):
    assert store.find_installation(enterprise_id=None, team_id="T0NEW") is None
    with django_assert_num_queries(0):
        assert store.find_installation(enterprise_id=None, team_id="T0NEW") is None

    store.save(an_installation(enterprise_id=None, team_id="T0NEW"))

    assert store.find_installation(enterprise_id=None, team_id="T0NEW").team_id == "T0NEW"


def test_deletes_invalidate(store):
    store.save(an_installation())
    store.find_installation(user_id="U0001", **IDS)

    store.delete_installation(user_id="U0001", **IDS)
    assert store.find_installation(user_id="U0001", **IDS) is None

    store.save(an_installation(installed_at=2_000_000_000.0))
    assert store.find_bot(**IDS) is not None
    store.delete_all(**IDS)
    assert store.find_bot(**IDS) is None and store.find_installation(**IDS) is None


def test_entries_expire():
    store = CacheableInstallationStore(client_id="111.222", timeout=1)
    store.save(an_installation())
    store.find_installation(**IDS)
    models.Installation.objects.update(team_name="Renamed behind the cache's back")

    import time

    time.sleep(1.2)
    assert store.find_installation(**IDS).team_name == "Renamed behind the cache's back"


def test_cached_entries_hold_no_token_in_clear(store):
    store.save(an_installation())
    store.find_authorization(user_id="U0001", **IDS)

    blobs = [bytes(blob) for blob in cached_installations()]
    assert blobs and not any(re.search(rb"xox[a-z]?[-.]", blob) for blob in blobs)


def test_an_entry_cached_under_a_retired_key_is_a_miss(store):
    import pickle

    from cryptography.fernet import Fernet

    store.save(an_installation())
    retired = Fernet(Fernet.generate_key())  # as if written before TOKEN_ENCRYPTION_KEYS dropped it
    snapshot, _ = store._read("E0001", "T0001", [])
    for user_id in (None, "U0001"):
        key = store._entry_key("E0001", "T0001", "installation", user_id)
        store.cache.set(key, (snapshot.generation, retired.encrypt(pickle.dumps(an_installation(bot_token="xoxb-stale")))))

    assert store.find_installation(**IDS).bot_token == "xoxb-bot-1"
    latest, mine = store.find_authorization(user_id="U0001", **IDS)
    assert latest.bot_token == "xoxb-bot-1" and mine.user_token == "xoxp-user-1"


def test_a_cache_outage_falls_back_to_the_database(settings):
    settings.CACHES = {
        "default": settings.CACHES["default"],
        "broken": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0",
                   "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}},
    }
    store = CacheableInstallationStore(client_id="111.222", cache_alias="broken")

    store.save(an_installation())
    assert store.find_installation(**IDS).bot_token == "xoxb-bot-1"
    latest, mine = store.find_authorization(user_id="U0001", **IDS)
    assert latest.bot_token == "xoxb-bot-1" and mine.user_token == "xoxp-user-1"
    store.delete_all(**IDS)
    assert store.find_installation(**IDS) is None


@pytest.mark.django_db(transaction=True)
def test_a_warm_event_costs_no_sql_and_no_slack_call_before_the_listener(slack, browser, client):
    assert install(browser, slack).status_code == 200
    signed_post(client, mention(text="hi"))  # warms the cache
    assert wait_for(lambda: ApiCall.objects.filter(method="chat.postMessage").count() == 1)
    calls_before = ApiCall.objects.exclude(method="chat.postMessage").count()

    with CaptureQueriesContext(connection) as queries:
        response = signed_post(client, mention(text="hi"))  # verification, authorize and ack run in this thread

    assert response.status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert wait_for(lambda: ApiCall.objects.filter(method="chat.postMessage").count() == 2)
    assert ApiCall.objects.exclude(method="chat.postMessage").count() == calls_before  # no auth.test


@pytest.mark.django_db(transaction=True)
def test_authorize_gives_the_requesting_users_own_token_only(slack, browser, settings):
    from slack_bolt import BoltContext

    from bolt_app.app import get_app

    settings.SLACK_USER_SCOPES = ["search:read"]
    assert install(browser, slack, user="T0ACME0001:U0ACME0001").status_code == 200
    authorize = get_app()._authorize

    installer = authorize(context=BoltContext(), enterprise_id=None, team_id="T0ACME0001", user_id="U0ACME0001")
    other = authorize(context=BoltContext(), enterprise_id=None, team_id="T0ACME0001", user_id="U0ACME0002")
    stranger = authorize(context=BoltContext(), enterprise_id=None, team_id="T0GLOBEX01", user_id="U0GLOBEX01")

    row = models.Installation.objects.get()
    assert installer.bot_token == row.bot_token and installer.user_token == row.user_token
    assert installer.bot_id == row.bot_id and installer.bot_user_id == row.bot_user_id
    assert installer.user_id == "U0ACME0001"
    assert other.bot_token == row.bot_token and other.user_token is None and other.user_id is None
    assert stranger is None


# --- each process's decoded copy (with Redis: emptied by Redis's invalidation messages) ----------

def counting(cls, method):
    """A mock counting calls of `cls.method` (which still runs)."""
    return mock.patch.object(cls, method, autospec=True, side_effect=getattr(cls, method))


def warm(store, **kwargs):
    # The first read after a write fills the cache but not this process's copy (the workspace's
    # generation is new; with Redis its invalidation message is on the way); the second fills it.
    store.find_authorization(**kwargs)
    return store.find_authorization(**kwargs)


def test_a_warm_lookup_decrypts_and_unpickles_no_cached_entry(store):
    from installations import crypto

    store.save(an_installation())
    warm(store, user_id="U0001", **IDS)

    with mock.patch.object(crypto, "decrypt", side_effect=crypto.decrypt) as decrypt:
        latest, mine = store.find_authorization(user_id="U0001", **IDS)
        assert store.find_installation(**IDS).bot_token == "xoxb-bot-1"

    assert decrypt.call_count == 0
    assert latest.bot_token == "xoxb-bot-1" and mine.user_token == "xoxp-user-1"
    mine.user_token = "mutated"  # still copies
    assert store.find_authorization(user_id="U0001", **IDS)[1].user_token == "xoxp-user-1"


@needs_redis
def test_with_redis_a_warm_lookup_makes_no_round_trip(store):
    store.save(an_installation())
    warm(store, user_id="U0001", **IDS)
    cache_class = type(store.cache)

    with counting(cache_class, "get_many") as get_many, counting(cache_class, "get") as get:
        assert store.find_authorization(user_id="U0001", **IDS)[0].bot_token == "xoxb-bot-1"
        assert store.find_installation(**IDS).bot_token == "xoxb-bot-1"

    assert get_many.call_count == get.call_count == 0


def test_another_workers_write_is_seen_by_the_next_lookup_every_time(store):
    other = CacheableInstallationStore(client_id="111.222")  # its own local copy (and Redis connection)
    store.save(an_installation())
    for round_ in range(30):
        warm(store, user_id="U0001", **IDS)
        other.save(an_installation(bot_token=f"xoxb-round-{round_}"))  # a write in "another worker"
        assert store.find_authorization(user_id="U0001", **IDS)[0].bot_token == f"xoxb-round-{round_}"
        assert store.find_installation(**IDS).bot_token == f"xoxb-round-{round_}"

    other.delete_all(**IDS)
    assert store.find_installation(**IDS) is None


def test_workers_sharing_a_file_cache_see_each_others_writes(settings, tmp_path):
    settings.CACHES = {**settings.CACHES, "files": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}}
    store, other = (CacheableInstallationStore(client_id="111.222", cache_alias="files") for _ in range(2))
    store.save(an_installation())
    warm(store, user_id="U0001", **IDS)

    other.save(an_installation(bot_token="xoxb-rotated"))
    assert store.find_authorization(user_id="U0001", **IDS)[0].bot_token == "xoxb-rotated"


@needs_redis
def test_when_redis_drops_the_invalidation_connection_nothing_stale_is_served(store):
    other = CacheableInstallationStore(client_id="111.222")
    store.save(an_installation())
    warm(store, **IDS)
    assert len(store._local) > 0

    # Redis closes this process's tracking connection (a restart, a failover, an output buffer
    # limit): messages sent meanwhile are lost, so the copy must not be trusted any more.
    client = store.cache._cache.get_client(write=True)
    assert client.execute_command("CLIENT", "KILL", "ID", store._local._client_id) == 1
    other.save(an_installation(bot_token="xoxb-after-the-drop"))

    assert store.find_installation(**IDS).bot_token == "xoxb-after-the-drop"
    assert len(store._local) == 0


def test_the_local_copy_is_bounded_and_can_be_turned_off(settings):
    settings.INSTALLATION_LOCAL_CACHE_SIZE = 6
    store = CacheableInstallationStore(client_id="111.222")
    for number in range(20):
        store.save(an_installation(team_id=f"T{number:04}", bot_token=f"xoxb-{number}"))
    for _ in range(2):
        for number in range(20):
            assert store.find_installation(enterprise_id="E0001", team_id=f"T{number:04}").bot_token == f"xoxb-{number}"
    assert 0 < len(store._local) <= 6

    settings.INSTALLATION_LOCAL_CACHE_SIZE = 0
    assert CacheableInstallationStore(client_id="111.222")._local is None
