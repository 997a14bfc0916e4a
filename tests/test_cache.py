"""`CacheableInstallationStore`: right across writes, copies, misses, outages; free when warm."""

import io
import os
import re
import socket
import threading
import time
import uuid
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from installations import models
from installations.cache import CacheableInstallationStore
from sandbox.models import ApiCall
from tests.helpers import an_installation, cached_installations, install, mention, needs_redis, signed_post, wait_for

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

    assert wait_for(lambda: store.find_installation(**IDS).team_name == "Renamed behind the cache's back")


def test_cached_entries_hold_no_token_in_clear(store):
    store.save(an_installation())
    store.find_authorization(user_id="U0001", **IDS)

    blobs = [bytes(blob) for blob in cached_installations()]
    assert blobs and not any(re.search(rb"xox[a-z]?[-.]", blob) for blob in blobs)


def test_an_entry_cached_under_a_retired_key_is_a_miss(store, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    first_key, new_key = settings.TOKEN_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    store.save(an_installation())
    store.find_authorization(user_id="U0001", **IDS)
    store.find_installation(**IDS)  # all cached under the first key
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, first_key]
    call_command("rotate_token_encryption", stdout=io.StringIO())  # the rows move to the new key
    models.Installation.objects.update(team_name="Renamed behind the cache's back")  # only a miss shows it
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]  # the first key retired

    other = CacheableInstallationStore(client_id="111.222")  # another worker: nothing decoded yet
    assert other.find_installation(**IDS).team_name == "Renamed behind the cache's back"
    latest, mine = other.find_authorization(user_id="U0001", **IDS)
    assert latest.team_name == "Renamed behind the cache's back" and mine.user_token == "xoxp-user-1"


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
    signed_post(client, mention(text="<@UB0ACME0001> hi"))  # warms the cache
    assert wait_for(lambda: ApiCall.objects.filter(method="chat.postMessage").count() == 1)
    calls_before = ApiCall.objects.exclude(method="chat.postMessage").count()

    with CaptureQueriesContext(connection) as queries:
        response = signed_post(client, mention(text="<@UB0ACME0001> hi"))  # verification, authorize and ack run in this thread

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
def test_a_killed_invalidation_connection_empties_the_copy(store):
    other = CacheableInstallationStore(client_id="111.222")
    store.save(an_installation())
    assert served_from_the_copy(lambda: store.find_installation(**IDS))

    # Redis closes this process's invalidation connections (a restart, a failover, an output buffer
    # limit): messages sent meanwhile are lost, so the copy must not be trusted any more.
    assert kill_invalidation_connections() >= 1
    assert store_reads(lambda: store.find_installation(**IDS)) != []  # emptied: read from Redis
    other.save(an_installation(bot_token="xoxb-after-the-drop"))

    assert store.find_installation(**IDS).bot_token == "xoxb-after-the-drop"


@needs_redis
def test_an_invalidation_connection_gone_silent_empties_the_copy(settings):
    """A partition that breaks nothing: the connection stays open, Redis's messages never arrive."""
    settings.INSTALLATION_LOCAL_CACHE_PING_SECONDS = 0.2
    with SilentableProxy(settings.REDIS_URL) as proxy:
        settings.CACHES = {**settings.CACHES, "proxied": {**settings.CACHES["default"], "LOCATION": proxy.url}}
        store = CacheableInstallationStore(client_id="111.222", cache_alias="proxied")
        other = CacheableInstallationStore(client_id="111.222")  # writes straight to Redis
        store.save(an_installation())
        assert served_from_the_copy(lambda: store.find_installation(**IDS))

        proxy.silence_invalidations()
        other.save(an_installation(bot_token="xoxb-during-the-partition"))

        # Without the guard the copy would serve the old token until the cache's TTL (10 minutes).
        assert wait_for(lambda: store.find_installation(**IDS).bot_token == "xoxb-during-the-partition")


@needs_redis
def test_a_warm_entry_is_served_from_the_copy_for_as_long_as_the_cache_keeps_it(store):
    store.save(an_installation())
    now = time.monotonic

    def lookups():
        latest, mine = store.find_authorization(user_id="U0001", **IDS)
        assert latest.bot_token == "xoxb-bot-1" and mine.user_token == "xoxp-user-1"

    assert served_from_the_copy(lookups)

    with mock.patch("time.monotonic", lambda: now() + 120):  # two minutes later
        assert store_reads(lookups) == []
    with mock.patch("time.monotonic", lambda: now() + store.timeout + 1):  # past the cache's TTL
        assert store_reads(lookups) != []


def test_the_local_copy_is_bounded_and_can_be_turned_off(settings):
    from installations import crypto

    def decrypts(team_id):
        """How many cached entries a lookup decoded (0: served from this process's copy)."""
        with mock.patch.object(crypto, "decrypt", side_effect=crypto.decrypt) as decrypt:
            assert store.find_installation(enterprise_id="E0001", team_id=team_id).team_id == team_id
        return decrypt.call_count

    settings.INSTALLATION_LOCAL_CACHE_SIZE = 6
    store = CacheableInstallationStore(client_id="111.222")
    teams = [f"T{number:04}" for number in range(20)]
    for team_id in teams:
        store.save(an_installation(team_id=team_id))
    for _ in range(2):
        for team_id in teams:
            store.find_installation(enterprise_id="E0001", team_id=team_id)
    assert decrypts(teams[-1]) == 0 and decrypts(teams[0]) == 1  # the first one was evicted

    settings.INSTALLATION_LOCAL_CACHE_SIZE = 0
    store = CacheableInstallationStore(client_id="111.222")
    for _ in range(2):
        store.find_installation(enterprise_id="E0001", team_id=teams[-1])
    assert decrypts(teams[-1]) == 1


# --- Redis seen from outside: what the store asks it, which connections it keeps ----------------


def store_reads(action):
    """The commands Redis ran on this test run's installation entries while `action()` ran
    (MONITOR; complete: a marker command sent afterwards is waited for)."""
    prefix = f"{settings.CACHES['default']['KEY_PREFIX']}:"
    marker = f"{prefix}monitor-marker-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    try:
        with client.monitor() as monitor:
            action()
            client.get(marker)
            commands = []
            while marker not in (command := monitor.next_command()["command"]):
                if prefix in command and ":installations:" in command:
                    commands.append(command)
            return commands
    finally:
        client.close()


def served_from_the_copy(lookup):
    """Wait until `lookup()` makes no Redis read twice in a row: the copy filled, and no message
    about an earlier change (such as the generation's creation) still on its way to empty it."""
    return wait_for(lambda: store_reads(lookup) == [] and store_reads(lookup) == [])


def kill_invalidation_connections():
    """Close this process's invalidation connections from the server side; how many there were."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        mine = [c["id"] for c in client.client_list() if c["name"] == f"slackhub-invalidations-{os.getpid()}"]
        return sum(client.client_kill_filter(_id=client_id) for client_id in mine)
    finally:
        client.close()


class SilentableProxy:
    """A TCP proxy in front of Redis that can silence the connections that turned on CLIENT
    TRACKING: they stay open, but nothing passes either way any more (a silent partition)."""

    def __init__(self, redis_url):
        self.redis_url = urlsplit(redis_url)
        self.target = (self.redis_url.hostname, self.redis_url.port or 6379)
        self.silent = threading.Event()
        self.sockets = []

    def __enter__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = urlunsplit(self.redis_url._replace(netloc=f"127.0.0.1:{self.server.getsockname()[1]}"))
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        for sock in [self.server, *self.sockets]:
            sock.close()

    def silence_invalidations(self):
        self.silent.set()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            tracking = threading.Event()
            threading.Thread(target=self._pump, args=(client, upstream, tracking), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, tracking), daemon=True).start()

    def _pump(self, source, destination, tracking):
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if b"TRACKING" in data:
                    tracking.set()
                if not (tracking.is_set() and self.silent.is_set()):
                    destination.sendall(data)
            except OSError:
                return
