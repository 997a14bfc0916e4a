"""`CacheableInstallationStore`: the Django store with a cache that stays right across workers.

slack_sdk's `CacheableInstallationStore` keeps a dict per process: unbounded, never expiring,
blind to writes made by other workers, it forgets to invalidate the workspace-level key on save
(so after a rotation every event refreshes again with a used refresh token) and hands out the
objects Bolt's authorize then mutates. This one:

- lives in Django's cache (`INSTALLATION_CACHE_ALIAS`: Redis in production, shared by all workers);
- invalidates a whole workspace at once: every entry is stored with the workspace's *generation*,
  a random value that a write replaces, and read (in one round trip) with the current generation;
  an entry from another generation is a miss. A reader takes the generation before reading the
  database, so a fill racing with a write is stored under the old generation and never served;
- caches misses too (events from users who never installed are the common case);
- stores Fernet-encrypted pickles, so a shared Redis holds no token in clear and every read is a copy;
- has a TTL, and falls back to the database when the cache is down (like Django's cached_db sessions),
  retrying the invalidations it could not make;
- keeps each process's decoded copy of what it read (`installations.local_cache`): a warm event
  reads one generation from the cache and decodes nothing, and with Redis, which tells each process
  when a generation changes, it makes no round trip at all.
"""

import pickle
import secrets
import threading
import time
from typing import NamedTuple

from django.conf import settings
from django.core.cache import caches

from installations import crypto, local_cache, metrics
from installations.stores import DjangoInstallationStore, workspace_ids

_MISS = "miss"  # cached "no such installation"
_UNREADABLE = object()  # a cached entry that reads as a miss
_OUTAGE_BACKOFF_SECONDS = 5
_GENERATION_PREFIX = "installations:gen:"


class _Snapshot(NamedTuple):
    """What a read saw: the workspace's generation (None when the cache is down) and the local
    copy's epoch (see `installations.local_cache`)."""

    generation_key: str
    generation: object
    epoch: object


class CacheableInstallationStore(DjangoInstallationStore):
    def __init__(self, client_id, logger=None, cache_alias=None, timeout=None):
        super().__init__(client_id=client_id, logger=logger)
        self.cache_alias = cache_alias or settings.INSTALLATION_CACHE_ALIAS
        self.timeout = timeout or settings.INSTALLATION_CACHE_TTL
        self._down_until = 0.0
        self._pending_invalidations = set()
        self._lock = threading.Lock()
        self._local = local_cache.for_cache(self.cache_alias, _GENERATION_PREFIX, self.timeout)

    @property
    def cache(self):
        return caches[self.cache_alias]

    # --- cache plumbing: every cache call goes through _call, which never raises --------------

    def _call(self, method, *args, default=None):
        if self._cache_down():
            return default
        try:
            if self._pending_invalidations:  # first: what they delete must not be served
                self._flush_pending_invalidations()
            result = getattr(self.cache, method)(*args)
        except Exception as error:  # a cache outage must never fail a request
            self._down_until = time.monotonic() + _OUTAGE_BACKOFF_SECONDS
            if self._local is not None:
                self._local.clear()
            self.logger.warning("Installation cache unavailable, using the database: %s", type(error).__name__)
            return default
        return result

    def _cache_down(self):
        return time.monotonic() < self._down_until

    def _generation_key(self, enterprise_id, team_id):
        return f"{_GENERATION_PREFIX}{self.client_id}:{enterprise_id or ''}:{team_id or ''}"

    def _entry_key(self, enterprise_id, team_id, kind, user_id=None):
        return f"installations:{self.client_id}:{enterprise_id or ''}:{team_id or ''}:{kind}:{user_id or ''}"

    def _read(self, enterprise_id, team_id, keys):
        """(a `_Snapshot`, {key: entity} for entries written under its generation): from the local
        copy, else in one cache round trip (two for a new generation).

        Entries are stored as (generation, encrypted entity); one from an older generation is a miss.
        """
        generation_key = self._generation_key(enterprise_id, team_id)
        local, generation, epoch = self._local, None, None
        read_generation = local is None or local.tracked  # else it is read before the local lookup
        if local is not None and not self._cache_down():
            if not local.tracked:  # an untracked copy serves only under the generation the cache has now
                generation = self._call("get", generation_key)
            hit, epoch = local.lookup(generation_key, keys, generation)
            if hit is not None:
                generation, payloads = hit
                return _Snapshot(generation_key, generation, epoch), {key: _loads(p) for key, p in payloads.items()}
        if read_generation or generation is not None:
            found = self._call("get_many", [generation_key, *keys] if read_generation else keys, default=None)
            if found is None:  # the cache is down
                return _Snapshot(generation_key, None, None), {}
            generation = found.get(generation_key, generation)
        if generation is None:  # a new workspace, an invalidated one, or the cache is down
            new = secrets.token_hex(8)
            added = self._call("add", generation_key, new, self.timeout * 2)
            generation = new if added else self._call("get", generation_key)
            return _Snapshot(generation_key, generation, epoch), {}
        payloads, entities = {}, {}
        for key in keys:
            written_under, blob = found.get(key, (None, None))
            payload = _decrypt(blob) if written_under == generation else None
            entity = _UNREADABLE if payload is None else _loads(payload)
            if entity is not _UNREADABLE:
                payloads[key], entities[key] = payload, entity
        snapshot = _Snapshot(generation_key, generation, epoch)
        self._keep_locally(snapshot, payloads)
        return snapshot, entities

    def _write(self, snapshot, entities):
        if snapshot.generation is not None:
            payloads = {key: pickle.dumps(_MISS if entity is None else entity) for key, entity in entities.items()}
            entries = {key: (snapshot.generation, crypto.encrypt(payload)) for key, payload in payloads.items()}
            if self._call("set_many", entries, self.timeout, default=_MISS) is not _MISS:
                self._keep_locally(snapshot, payloads)

    def _keep_locally(self, snapshot, payloads):
        if self._local is not None and payloads:
            self._local.fill(snapshot.epoch, snapshot.generation_key, snapshot.generation, payloads)

    def invalidate(self, enterprise_id, team_id, is_enterprise_install=False):
        """Forget everything cached for the workspace, in every worker."""
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        key = self._generation_key(enterprise_id, team_id)
        if self._call("delete", key, default=_MISS) is _MISS:
            with self._lock:
                self._pending_invalidations.add(key)
        if self._local is not None:
            self._local.forget(key)

    def _flush_pending_invalidations(self):
        with self._lock:
            pending, self._pending_invalidations = self._pending_invalidations, set()
        try:
            self.cache.delete_many(list(pending))
        except Exception:
            with self._lock:
                self._pending_invalidations |= pending
            raise

    def _cached(self, kind, enterprise_id, team_id, user_id, load):
        """The entity from the cache, else from `load()` (then cached, misses included)."""
        key = self._entry_key(enterprise_id, team_id, kind, user_id)
        snapshot, found = self._read(enterprise_id, team_id, [key])
        if key in found:
            metrics.AUTHORIZE_CACHE_HIT.inc()
            return found[key]
        (metrics.AUTHORIZE_CACHE_MISS if snapshot.generation is not None else metrics.AUTHORIZE_CACHE_OUTAGE).inc()
        entity = load()
        self._write(snapshot, {key: entity})
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
        """The workspace's latest installation and the requesting user's own, in 1 cache round trip."""
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        latest_key = self._entry_key(enterprise_id, team_id, "installation")
        user_key = self._entry_key(enterprise_id, team_id, "installation", user_id)
        keys = [latest_key, user_key] if user_id else [latest_key]
        snapshot, found = self._read(enterprise_id, team_id, keys)
        if all(key in found for key in keys):
            return found[latest_key], found.get(user_key) if user_id else None
        latest, mine = super().find_authorization(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        self._write(snapshot, {latest_key: latest, user_key: mine} if user_id else {latest_key: latest})
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


def _decrypt(blob):
    """The pickle in a cached blob; None for one written under a key since retired from
    TOKEN_ENCRYPTION_KEYS (a miss)."""
    try:
        return crypto.decrypt(blob)
    except Exception:
        return None


def _loads(payload):
    """A fresh copy of a cached entity (Bolt's authorize mutates what the store returns);
    `_UNREADABLE` for a pickle this code can no longer load (a miss)."""
    try:
        value = pickle.loads(payload)
    except Exception:
        return _UNREADABLE
    return None if value == _MISS else value
