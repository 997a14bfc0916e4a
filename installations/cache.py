"""`CacheableInstallationStore`: the Django store with a cache that stays right across workers.

slack_sdk's `CacheableInstallationStore` keeps a dict per process: unbounded, never expiring,
blind to writes made by other workers, it forgets to invalidate the workspace-level key on save
(so after a rotation every event refreshes again with a used refresh token) and hands out the
objects Bolt's authorize then mutates. This one:

- lives in Django's cache (`INSTALLATION_CACHE_ALIAS`: Redis in production, shared by all workers);
- invalidates a whole workspace at once: every entry key embeds the workspace's *generation*, a
  random value that a write replaces. A reader takes the generation before reading the database,
  so a fill racing with a write lands under the old generation, where nobody looks;
- caches misses too (events from users who never installed are the common case);
- stores Fernet-encrypted pickles, so a shared Redis holds no token in clear and every read is a copy;
- has a TTL, and falls back to the database when the cache is down (like Django's cached_db sessions),
  retrying the invalidations it could not make.
"""

import pickle
import secrets
import threading
import time

from django.conf import settings
from django.core.cache import caches

from installations import crypto
from installations.stores import DjangoInstallationStore, workspace_ids

_MISS = "miss"  # cached "no such installation"
_UNREADABLE = object()
_OUTAGE_BACKOFF_SECONDS = 5


class CacheableInstallationStore(DjangoInstallationStore):
    def __init__(self, client_id, logger=None, cache_alias=None, timeout=None):
        super().__init__(client_id=client_id, logger=logger)
        self.cache_alias = cache_alias or settings.INSTALLATION_CACHE_ALIAS
        self.timeout = timeout or settings.INSTALLATION_CACHE_TTL
        self._down_until = 0.0
        self._pending_invalidations = set()
        self._lock = threading.Lock()

    @property
    def cache(self):
        return caches[self.cache_alias]

    # --- cache plumbing: every cache call goes through _call, which never raises --------------

    def _call(self, method, *args, default=None):
        if time.monotonic() < self._down_until:
            return default
        try:
            result = getattr(self.cache, method)(*args)
        except Exception as error:  # a cache outage must never fail a request
            self._down_until = time.monotonic() + _OUTAGE_BACKOFF_SECONDS
            self.logger.warning("Installation cache unavailable, using the database: %s", type(error).__name__)
            return default
        if self._pending_invalidations:
            self._flush_pending_invalidations()
        return result

    def _generation_key(self, enterprise_id, team_id):
        return f"installations:gen:{self.client_id}:{enterprise_id or ''}:{team_id or ''}"

    def _generation(self, enterprise_id, team_id):
        key = self._generation_key(enterprise_id, team_id)
        generation = self._call("get", key)
        if generation is None:
            self._call("add", key, secrets.token_hex(8), self.timeout * 2)
            generation = self._call("get", key)
        return generation

    def _entry_key(self, generation, enterprise_id, team_id, kind, user_id=None):
        return f"installations:{self.client_id}:{enterprise_id or ''}:{team_id or ''}:{generation}:{kind}:{user_id or ''}"

    def invalidate(self, enterprise_id, team_id, is_enterprise_install=False):
        """Forget everything cached for the workspace, in every worker."""
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        key = self._generation_key(enterprise_id, team_id)
        if self._call("delete", key, default=_MISS) is _MISS:
            with self._lock:
                self._pending_invalidations.add(key)

    def _flush_pending_invalidations(self):
        with self._lock:
            pending, self._pending_invalidations = self._pending_invalidations, set()
        try:
            self.cache.delete_many(list(pending))
        except Exception:
            with self._lock:
                self._pending_invalidations |= pending

    def _encode(self, entity):
        return crypto.encrypt(pickle.dumps(_MISS if entity is None else entity))

    def _decode(self, blob):
        try:
            value = pickle.loads(crypto.decrypt(blob))
        except Exception:  # written under a key since retired from TOKEN_ENCRYPTION_KEYS: a miss
            return _UNREADABLE
        return None if value == _MISS else value

    def _cached(self, kind, enterprise_id, team_id, user_id, load):
        """The entity from the cache, else from `load()` (then cached, misses included)."""
        generation = self._generation(enterprise_id, team_id)
        if generation is None:
            return load()
        key = self._entry_key(generation, enterprise_id, team_id, kind, user_id)
        blob = self._call("get", key)
        entity = self._decode(blob) if blob is not None else _UNREADABLE
        if entity is not _UNREADABLE:
            return entity
        entity = load()
        self._call("set", key, self._encode(entity), self.timeout)
        return entity

    # --- the store's methods -----------------------------------------------------------------

    def save(self, installation):
        super().save(installation)
        self.invalidate(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)

    def save_bot(self, bot):
        super().save_bot(bot)
        self.invalidate(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)

    def find_bot(self, *, enterprise_id, team_id, is_enterprise_install=False):
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        return self._cached(
            "bot",
            enterprise_id,
            team_id,
            None,
            lambda: super(CacheableInstallationStore, self).find_bot(enterprise_id=enterprise_id, team_id=team_id),
        )

    def find_installation(self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False):
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        return self._cached(
            "installation",
            enterprise_id,
            team_id,
            user_id,
            lambda: super(CacheableInstallationStore, self).find_installation(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
            ),
        )

    def find_authorization(self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False):
        """The workspace's latest installation and the requesting user's own, in 2 cache round trips."""
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        generation = self._generation(enterprise_id, team_id)
        if generation is None:
            return super().find_authorization(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        latest_key = self._entry_key(generation, enterprise_id, team_id, "installation")
        user_key = self._entry_key(generation, enterprise_id, team_id, "installation", user_id)
        found = self._call("get_many", [latest_key, user_key], default={})
        if latest_key in found and (user_id is None or user_key in found):
            latest = self._decode(found[latest_key])
            mine = self._decode(found[user_key]) if user_id else None
            if latest is not _UNREADABLE and mine is not _UNREADABLE:
                return latest, mine
        latest, mine = super().find_authorization(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        entries = {latest_key: self._encode(latest)}
        if user_id is not None:
            entries[user_key] = self._encode(mine)
        self._call("set_many", entries, self.timeout)
        return latest, mine

    def _then_invalidate(self, write, *, enterprise_id, team_id, **kwargs):
        result = write(enterprise_id=enterprise_id, team_id=team_id, **kwargs)
        self.invalidate(enterprise_id, team_id)
        return result

    def delete_bot(self, **kwargs):
        return self._then_invalidate(super().delete_bot, **kwargs)

    def delete_installation(self, **kwargs):
        return self._then_invalidate(super().delete_installation, **kwargs)

    def delete_all(self, **kwargs):
        return self._then_invalidate(super().delete_all, **kwargs)

    def revoke_tokens(self, **kwargs):
        return self._then_invalidate(super().revoke_tokens, **kwargs)
