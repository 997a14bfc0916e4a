"""`MachineBaseStorage`: the storage backend interface (Slack Machine's
`machine.storage.backends.base.MachineBaseStorage`), synchronous here.

Backends store bytes under keys that `PluginStorage` has already namespaced by workspace and plugin
(`<workspace>|<namespace>:<key>`); they know nothing of either. Beyond Slack Machine's methods,
`size`, `keys` and `delete_prefix` take a prefix (one workspace's keys) and `purge_expired` drops
what has expired, for retention.
"""

from datetime import datetime


class MachineBaseStorage:
    def __init__(self, settings=None):
        self.settings = settings

    def init(self) -> None:
        """Prepare the backend (connections, tables); called once."""

    def get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def set(self, key: str, value: bytes, expires: int | None = None) -> None:
        """Store `value`; `expires` is a number of seconds after which the key is gone."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def has(self, key: str) -> bool:
        raise NotImplementedError

    def size(self, prefix: str = "") -> int:
        """Bytes stored under keys starting with `prefix`."""
        raise NotImplementedError

    def keys(self, prefix: str = "") -> list[tuple[str, int, datetime | None]]:
        """(key, size in bytes, expiry) of the live keys starting with `prefix`, sorted by key."""
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with `prefix` (a workspace's keys, on uninstall); returns how many."""
        raise NotImplementedError

    def purge_expired(self) -> int:
        """Delete expired keys still held; returns how many (expiry is honoured on read regardless)."""
        return 0

    def close(self) -> None:
        """Release what `init` took."""
