"""`PluginStorage`: what a plugin sees as `self.storage` (Slack Machine's `machine.storage.PluginStorage`).

Keys are namespaced by workspace and by plugin class path, so a plugin only ever reaches its own keys
in the workspace of the event it is handling; `shared=True` keys are shared by the plugins of one
workspace, never across workspaces. Values are JSON (plus datetimes, dates, times, decimals, UUIDs,
sets, tuples and bytes), not pickles: Slack Machine's dill pickles let anyone who can write storage
run code. Every call can be awaited or called plainly.
"""

import base64
import datetime
import decimal
import json
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils.module_loading import import_string

from installations.per_process import PerProcess
from plugins import context
from plugins.awaitable import awaitable

_TAG = "__slackhub__"
_ENCODERS = [
    (datetime.datetime, "datetime", lambda v: v.isoformat(), datetime.datetime.fromisoformat),
    (datetime.date, "date", lambda v: v.isoformat(), datetime.date.fromisoformat),
    (datetime.time, "time", lambda v: v.isoformat(), datetime.time.fromisoformat),
    (timedelta, "timedelta", lambda v: v.total_seconds(), lambda v: timedelta(seconds=v)),
    (decimal.Decimal, "decimal", str, decimal.Decimal),
    (uuid.UUID, "uuid", str, uuid.UUID),
    (bytes, "bytes", lambda v: base64.b64encode(v).decode(), base64.b64decode),
    (frozenset, "frozenset", list, frozenset),
    (set, "set", list, set),
]
_DECODERS = {name: decode for _, name, _, decode in _ENCODERS}


class NotSerializable(TypeError):
    """A value plugin storage cannot keep (it stores JSON, not pickles)."""


def _tagged(value):
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_tagged(item) for item in value]}
    if isinstance(value, list):
        return [_tagged(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise NotSerializable("plugin storage keeps dicts with string keys only")
        if _TAG in value:  # a plugin's own dict that looks like a tag: kept as pairs, read back as it was
            return {_TAG: "dict", "v": [[key, _tagged(item)] for key, item in value.items()]}
        return {key: _tagged(item) for key, item in value.items()}
    for kind, name, encode, _ in _ENCODERS:
        if isinstance(value, kind):
            inner = encode(value)
            return {_TAG: name, "v": [_tagged(item) for item in inner] if isinstance(inner, list) else inner}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise NotSerializable(
        f"plugin storage keeps JSON values (and datetimes, decimals, UUIDs, sets, tuples, bytes); "
        f"got {type(value).__name__}"
    )


def _untagged(value):
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    if isinstance(value, dict):
        if _TAG in value and len(value) == 2 and "v" in value:
            if value[_TAG] == "dict":
                return {key: _untagged(item) for key, item in value["v"]}
            inner = _untagged(value["v"])
            return tuple(inner) if value[_TAG] == "tuple" else _DECODERS[value[_TAG]](inner)
        return {key: _untagged(item) for key, item in value.items()}
    return value


def dumps(value) -> bytes:
    return json.dumps(_tagged(value), separators=(",", ":"), allow_nan=False).encode()


def loads(raw: bytes):
    return _untagged(json.loads(raw))


def _build_backend():
    backend = import_string(settings.PLUGIN_STORAGE_BACKEND)(settings)
    backend.init()
    return backend


_backend = PerProcess(_build_backend, ("PLUGIN_STORAGE_", "REDIS_URL"), close=lambda backend: backend.close())


def storage_backend():
    """The process's storage backend (`PLUGIN_STORAGE_BACKEND`), built once, rebuilt when settings change."""
    return _backend()


def workspace_prefix(workspace_key: str) -> str:
    return f"{workspace_key}|"


def purge_workspace(workspace_key: str) -> int:
    """Delete every plugin's keys of one workspace (it uninstalled)."""
    return storage_backend().delete_prefix(workspace_prefix(workspace_key))


def purge_expired() -> int:
    return storage_backend().purge_expired()


def _human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


class PluginStorage:
    """Namespaced storage for one plugin, in the workspace of the event being handled."""

    def __init__(self, namespace: str):
        self._namespace = namespace

    def _key(self, key: str, shared: bool = False) -> str:
        if not isinstance(key, str) or not key:
            raise TypeError("plugin storage keys are non-empty strings")
        return f"{workspace_prefix(context.current().storage_key)}{'shared' if shared else self._namespace}:{key}"

    @awaitable
    def set(self, key: str, value, expires: int | timedelta | None = None, shared: bool = False) -> None:
        if isinstance(expires, timedelta):
            expires = int(expires.total_seconds())
        if expires is not None and expires <= 0:
            raise ValueError("expires must be a positive number of seconds")
        storage_backend().set(self._key(key, shared), dumps(value), expires)

    @awaitable
    def get(self, key: str, shared: bool = False):
        raw = storage_backend().get(self._key(key, shared))
        return None if raw is None else loads(raw)

    @awaitable
    def has(self, key: str, shared: bool = False) -> bool:
        return storage_backend().has(self._key(key, shared))

    @awaitable
    def delete(self, key: str, shared: bool = False) -> None:
        storage_backend().delete(self._key(key, shared))

    @awaitable
    def get_storage_size(self) -> int:
        """Bytes this workspace's plugins store (Slack Machine: the whole storage; here one workspace's)."""
        return storage_backend().size(workspace_prefix(context.current().storage_key))

    @awaitable
    def get_storage_size_human(self) -> str:
        return _human(storage_backend().size(workspace_prefix(context.current().storage_key)))

    def __contains__(self, key: str) -> bool:
        return storage_backend().has(self._key(key))
