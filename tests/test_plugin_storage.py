"""`self.storage`: the storage contract on both backends (database and Redis), namespaced by
workspace and plugin, JSON values, expiry, purges."""

import datetime
import decimal
import os
import uuid

import pytest
from django.core.management import call_command

from plugins import context
from plugins.storage import NotSerializable, PluginStorage, storage_backend
from tests.helpers import needs_redis

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["database", pytest.param("redis", marks=needs_redis)])
def backend(request, settings):
    if request.param == "redis":
        settings.PLUGIN_STORAGE_BACKEND = "plugins.storage.backends.redis.RedisStorage"
        settings.PLUGIN_STORAGE_REDIS_PREFIX = f"slackhub-test-storage-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    else:
        settings.PLUGIN_STORAGE_BACKEND = "plugins.storage.backends.database.DatabaseStorage"
    yield request.param
    storage_backend().delete_prefix("")


def workspace(team_id, enterprise_id=None, org_wide=False):
    return context.WorkspaceContext(
        enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide, bot_token="xoxb-unused",
        bot_user_id="UB" + team_id[1:], bot_id="B" + team_id[1:],
    )


ACME, GLOBEX = workspace("T0ACME0001"), workspace("T0GLOBEX01")


def test_set_get_has_delete(backend):
    notes = PluginStorage("my.plugins.Notes")
    with context.bound(ACME):
        assert notes.get("k") is None and not notes.has("k") and "k" not in notes
        notes.set("k", {"text": "hi", "n": [1, 2.5, None, True]})
        assert notes.get("k") == {"text": "hi", "n": [1, 2.5, None, True]}
        assert notes.has("k") and "k" in notes
        notes.delete("k")
        assert notes.get("k") is None and not notes.has("k")


def test_values_keep_their_types(backend):
    notes = PluginStorage("my.plugins.Notes")
    value = {
        "when": datetime.datetime(2026, 12, 2, 9, 30, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2026, 12, 2), "price": decimal.Decimal("9.99"), "id": uuid.UUID(int=7),
        "tags": {"a", "b"}, "pair": (1, "x"), "raw": b"\x00\xff", "wait": datetime.timedelta(minutes=5),
    }
    with context.bound(ACME):
        notes.set("typed", value)
        assert notes.get("typed") == value


def test_a_value_that_is_not_json_is_refused_at_set(backend):
    notes = PluginStorage("my.plugins.Notes")
    with context.bound(ACME), pytest.raises(NotSerializable, match="JSON"):
        notes.set("bad", object())
    with context.bound(ACME):
        assert not notes.has("bad")


def test_two_workspaces_keep_different_values_under_one_plugin_and_key(backend):
    notes = PluginStorage("my.plugins.Notes")
    with context.bound(ACME):
        notes.set("topic", "acme's")
    with context.bound(GLOBEX):
        assert notes.get("topic") is None
        notes.set("topic", "globex's")
    with context.bound(ACME):
        assert notes.get("topic") == "acme's"


def test_plugins_are_namespaced_and_shared_keys_are_per_workspace(backend):
    notes, other = PluginStorage("my.plugins.Notes"), PluginStorage("my.plugins.Other")
    with context.bound(ACME):
        notes.set("k", "notes'")
        assert other.get("k") is None
        notes.set("team", "everyone's", shared=True)
        assert other.get("team", shared=True) == "everyone's"
    with context.bound(GLOBEX):
        assert other.get("team", shared=True) is None


def test_expired_keys_are_gone_on_read_and_purged(backend, settings):
    notes = PluginStorage("my.plugins.Notes")
    with context.bound(ACME):
        notes.set("soon", "x", expires=1)
        notes.set("later", "y", expires=datetime.timedelta(hours=1))
        notes.set("never", "z")
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=5)
        while notes.has("soon") and datetime.datetime.now() < deadline:
            pass
        assert notes.get("soon") is None and not notes.has("soon")
        assert notes.get("later") == "y" and notes.get("never") == "z"
    call_command("purge_storage")
    keys = [key for key, _, _ in storage_backend().keys()]
    assert not any(key.endswith(":soon") for key in keys)
    assert any(key.endswith(":later") for key in keys)


def test_sizes_count_this_workspace_only(backend):
    notes = PluginStorage("my.plugins.Notes")
    with context.bound(GLOBEX):
        notes.set("big", "x" * 5000)
    with context.bound(ACME):
        notes.set("small", "abc")
        assert notes.get_storage_size() == len(b'"abc"')
        assert notes.get_storage_size_human() == "5 B"


def test_org_wide_installs_share_one_namespace_across_their_workspaces(backend):
    notes = PluginStorage("my.plugins.Notes")
    with context.bound(workspace("T0ORGWS001", enterprise_id="E0ORG00001", org_wide=True)):
        notes.set("k", "org's")
    with context.bound(workspace("T0ORGWS002", enterprise_id="E0ORG00001", org_wide=True)):
        assert notes.get("k") == "org's"


def test_storage_outside_a_handler_is_a_clear_error(backend):
    with pytest.raises(context.NoWorkspace, match="inside a handler"):
        PluginStorage("my.plugins.Notes").get("k")


def test_every_call_can_be_awaited(backend):
    from plugins.awaitable import run

    notes = PluginStorage("my.plugins.Notes")

    async def handler():
        await notes.set("k", 1)
        assert await notes.get("k") == 1 and await notes.has("k")
        assert await notes.get_storage_size() > 0
        await notes.delete("k")
        return await notes.get("k")

    with context.bound(ACME):
        assert run(handler) is None
        assert notes.get("k") is None  # and called plainly
