"""`CacheableInstallationStore`: the Django store with a cache that stays right across workers.

Shaped like Django's `cached_db` sessions: it subclasses the database store and overrides only the
reads and the hook every write ends in (`workspace_changed`). slack_sdk's own
`CacheableInstallationStore` keeps a dict per process: unbounded, never expiring, blind to writes
made by other workers, it forgets to invalidate the workspace-level key on save (so after a
rotation every event refreshes again with a used refresh token) and hands out the objects Bolt's
authorize then mutates. This one:

- lives in Django's cache (`INSTALLATION_CACHE_ALIAS`: Redis in production, shared by all workers);
- invalidates a whole workspace at once: every entry is stored with the workspace's *generation*,
  a random value that a write replaces, and read (in one round trip) with the current generation;
  an entry from another generation is a miss. A reader takes the generation before reading the
  database, so a fill racing with a write is stored under the old generation and never served;
- caches misses too (events from users who never installed are the common case);
- stores Fernet-encrypted pickles, so a shared Redis holds no token in clear and every read is a copy;
- has a TTL, and falls back to the database when the cache is down (like `cached_db.load()`),
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
from slack_sdk.oauth.installation_store import Bot, Installation

from installations import crypto, local_cache, metrics
from installations.stores import DjangoInstallationStore, workspace_ids

_FAILED = object()  # what a cache call returns when the cache did not answer
_UNREADABLE = object()  # a cached entry this code cannot read (treated as not cached)
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

    # --- the reads -----------------------------------------------------------------------------

    def find_bot(self, *, enterprise_id, team_id, is_enterprise_install=False):
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        key = self._entry_key(enterprise_id, team_id, "bot")
        return self._cached(enterprise_id, team_id, [key], lambda: [self._load_bot(enterprise_id, team_id)])[0]

    def find_installation(self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False):
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        key = self._entry_key(enterprise_id, team_id, "installation", user_id)
        return self._cached(
            enterprise_id, team_id, [key], lambda: [self._load_installation(enterprise_id, team_id, user_id)]
        )[0]

    def find_authorization(self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False):
        """The workspace's latest installation and the requesting user's own, in 1 cache round trip."""
        enterprise_id, team_id = workspace_ids(enterprise_id, team_id, is_enterprise_install)
        keys = [self._entry_key(enterprise_id, team_id, "installation")]
        if user_id:
            keys.append(self._entry_key(enterprise_id, team_id, "installation", user_id))

        def load():
            found = super(CacheableInstallationStore, self).find_authorization(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
            )
            return found if user_id else found[:1]

        found = self._cached(enterprise_id, team_id, keys, load)
        return found[0], found[1] if user_id else None

    # --- the hook every write ends in -----------------------------------------------------------

    def workspace_changed(self, enterprise_id, team_id):
        """Forget everything cached for the workspace, in every worker: a new generation."""
        key = self._generation_key(enterprise_id, team_id)
        if self._call("delete", key) is _FAILED:
            with self._lock:
                self._pending_invalidations.add(key)
        if self._local is not None:
            self._local.forget(key)

    # --- cache plumbing: every cache call goes through _call, which never raises --------------

    def _cached(self, enterprise_id, team_id, keys, load):
        """The entities under `keys` from the cache, else from `load()` (a list in the same
        order; then cached, misses included)."""
        snapshot, found = self._read(enterprise_id, team_id, keys)
        if all(key in found for key in keys):
            metrics.AUTHORIZE_CACHE_HIT.inc()
            return [found[key] for key in keys]
        (metrics.AUTHORIZE_CACHE_MISS if snapshot.generation is not None else metrics.AUTHORIZE_CACHE_OUTAGE).inc()
        entities = load()
        self._write(snapshot, dict(zip(keys, entities)))
        return entities

    def _call(self, method, *args):
        """The cache's answer, or `_FAILED` (the cache is down: the caller uses the database)."""
        if self._cache_down():
            return _FAILED
        try:
            if self._pending_invalidations:  # first: what they delete must not be served
                self._flush_pending_invalidations()
            return getattr(self.cache, method)(*args)
        except Exception as error:  # a cache outage must never fail a request
            self._down_until = time.monotonic() + _OUTAGE_BACKOFF_SECONDS
            if self._local is not None:
                self._local.clear()
            self.logger.warning("Installation cache unavailable, using the database: %s", type(error).__name__)
            return _FAILED

    def _cache_down(self):
        return time.monotonic() < self._down_until

    def _generation_key(self, enterprise_id, team_id):
        return f"{_GENERATION_PREFIX}{self.client_id}:{enterprise_id or ''}:{team_id or ''}"

    def _entry_key(self, enterprise_id, team_id, kind, user_id=None):
        return f"installations:{self.client_id}:{enterprise_id or ''}:{team_id or ''}:{kind}:{user_id or ''}"

    def _read(self, enterprise_id, team_id, keys):
        """(a `_Snapshot`, {key: entity or None} for entries written under its generation): from the
        local copy, else in one cache round trip (two for a new generation).

        Entries are stored as (generation, encrypted entity); one from an older generation is a miss.
        """
        generation_key = self._generation_key(enterprise_id, team_id)
        local, generation, epoch = self._local, None, None
        read_generation = local is None or local.tracked  # else it is read before the local lookup
        if local is not None and not self._cache_down():
            if not local.tracked:  # an untracked copy serves only under the generation the cache has now
                generation = self._call("get", generation_key)
                if generation is _FAILED:
                    return _Snapshot(generation_key, None, None), {}
            hit, epoch = local.lookup(generation_key, keys, generation)
            if hit is not None:
                generation, payloads = hit
                return _Snapshot(generation_key, generation, epoch), {key: _loads(p) for key, p in payloads.items()}
        found = {}
        if read_generation or generation is not None:
            found = self._call("get_many", [generation_key, *keys] if read_generation else keys)
            if found is _FAILED:
                return _Snapshot(generation_key, None, None), {}
            generation = found.get(generation_key, generation)
        if generation is None:  # a new workspace, or an invalidated one
            new = secrets.token_hex(8)
            added = self._call("add", generation_key, new, self.timeout * 2)
            generation = new if added is True else self._call("get", generation_key)
            generation = None if generation is _FAILED else generation
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
            payloads = {key: pickle.dumps(entity) for key, entity in entities.items()}
            entries = {key: (snapshot.generation, crypto.encrypt(payload)) for key, payload in payloads.items()}
            if self._call("set_many", entries, self.timeout) is not _FAILED:
                self._keep_locally(snapshot, payloads)

    def _keep_locally(self, snapshot, payloads):
        if self._local is not None and payloads:
            self._local.fill(snapshot.epoch, snapshot.generation_key, snapshot.generation, payloads)

    def _flush_pending_invalidations(self):
        with self._lock:
            pending, self._pending_invalidations = self._pending_invalidations, set()
        try:
            self.cache.delete_many(list(pending))
        except Exception:
            with self._lock:
                self._pending_invalidations |= pending
            raise


def _decrypt(blob):
    """The pickle in a cached blob; None for one written under a key since retired from
    TOKEN_ENCRYPTION_KEYS (a miss)."""
    try:
        return crypto.decrypt(blob)
    except Exception:
        return None


def _loads(payload):
    """A fresh copy of a cached entity (Bolt's authorize mutates what the store returns): an
    `Installation`, a `Bot`, or None for a cached "not installed"; `_UNREADABLE` for a pickle this
    code can no longer load or does not expect."""
    try:
        value = pickle.loads(payload)
    except Exception:
        return _UNREADABLE
    return value if value is None or isinstance(value, (Installation, Bot)) else _UNREADABLE
