"""Each process's copy of what the installation cache holds: decoded, so a warm event neither
decrypts nor unpickles a cached entry, and, with Redis, makes no round trip at all.

Entries are kept (as plaintext pickles, in a bounded LRU, no longer than the cache's TTL) with the
workspace generation they were read under (see `installations.cache`), and only served under it:

- `LocalCopy` (any cache but Redis): the store reads the workspace's current generation from the
  shared cache (one small read) and the copy serves what it holds under it.
- `TrackedLocalCopy` (Redis): Redis itself tells the process when a generation key changes
  (`installations.redis_cache.Invalidations`), so not even the generation is read. Before every
  lookup the copy applies the messages already waiting (one non-blocking poll, ~3 µs). A write made
  by any process is seen by every other process's next event: Redis queues the invalidation message
  before it answers the writer. Whenever it cannot be sure (the connection broke or cannot be
  opened, Redis was flushed, the process forked) it empties itself and the store reads Redis as
  before. A connection can also go silent without breaking (a partition): a daemon thread sends a
  PING on it every `INSTALLATION_LOCAL_CACHE_PING_SECONDS` and empties the copy when the previous
  one went unanswered, so nothing stale is served for longer than two such periods. A fill races
  with invalidations: a lookup returns an *epoch*, and `fill` keeps nothing if any invalidation
  arrived since, so a generation read just before it was deleted is never kept.
"""

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict

from django.conf import settings
from django.core.cache import caches

from installations import metrics, redis_cache

logger = logging.getLogger(__name__)

_RETRY_SECONDS = 5


def for_cache(alias, tracked_prefix, ttl):
    """The local copy for the Django cache `alias` (None when INSTALLATION_LOCAL_CACHE_SIZE is 0).
    Its entries live no longer than the cache's own (`ttl`)."""
    if settings.INSTALLATION_LOCAL_CACHE_SIZE <= 0:
        return None
    sizes = dict(max_entries=settings.INSTALLATION_LOCAL_CACHE_SIZE, max_age=ttl)
    cache = caches[alias]
    prefix = redis_cache.tracked_key_prefix(cache, tracked_prefix)
    if prefix is None:
        return LocalCopy(**sizes)  # not Redis, or a custom KEY_FUNCTION: no messages to rely on

    def connect():
        return redis_cache.Invalidations(cache, prefix, name=f"slackhub-invalidations-{os.getpid()}")

    return TrackedLocalCopy(
        connect=connect,
        key_base=cache.make_key(""),
        ping_seconds=settings.INSTALLATION_LOCAL_CACHE_PING_SECONDS,
        **sizes,
    )


class LocalCopy:
    """Entries served only under the generation the caller read from the shared cache."""

    tracked = False  # True: the copy knows the current generations itself

    def __init__(self, *, max_entries, max_age):
        self._max_entries = max_entries
        self._max_age = max_age
        self._lock = threading.Lock()
        self._items = OrderedDict()  # logical key -> (value, stored at)
        self._epoch = 0

    def lookup(self, generation_key, keys, generation=None):
        """(hit, epoch): hit is (generation, {key: payload}) when every key is held under
        `generation` (for a tracked copy: under the generation it holds), else None; epoch is None
        when this copy cannot be trusted (then `fill` keeps nothing)."""
        self._prepare()
        with self._lock:
            if not self._sync():
                return None, None
            now = time.monotonic()
            if generation is None:
                generation = self._fresh(generation_key, now)
                if generation is None:
                    return None, self._epoch
            payloads = {}
            for key in keys:
                held = self._fresh(key, now)
                if held is None or held[0] != generation:
                    return None, self._epoch
                payloads[key] = held[1]
            return (generation, payloads), self._epoch

    def fill(self, epoch, generation_key, generation, payloads):
        """Keep `payloads` ({key: payload}, read under `generation`) unless anything was
        invalidated since `lookup` returned `epoch`."""
        self._prepare()
        with self._lock:
            if epoch is None or not self._sync() or epoch != self._epoch:
                return
            now = time.monotonic()
            if self.tracked:
                self._put(generation_key, generation, now)
            for key, payload in payloads.items():
                self._put(key, (generation, payload), now)
            while len(self._items) > self._max_entries:
                self._items.popitem(last=False)

    def forget(self, generation_key):
        with self._lock:
            self._items.pop(generation_key, None)
            self._epoch += 1

    def clear(self):
        with self._lock:
            self._reset()

    def __len__(self):
        return len(self._items)

    # --- under the lock ------------------------------------------------------------------------

    def _fresh(self, key, now):
        held = self._items.get(key)
        if held is None:
            return None
        value, stored_at = held
        if now - stored_at > self._max_age:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def _put(self, key, value, now):
        self._items[key] = (value, now)
        self._items.move_to_end(key)

    def _prepare(self):
        """Work done before taking the lock."""

    def _sync(self):
        return True

    def _reset(self):
        self._items.clear()
        self._epoch += 1


class TrackedLocalCopy(LocalCopy):
    """Knows the current generations itself, from Redis's invalidation messages."""

    tracked = True

    def __init__(self, *, connect, key_base, ping_seconds, **sizes):
        """`connect()` opens an `installations.redis_cache.Invalidations`; `key_base` is what the
        Django cache puts before every key (`KEY_PREFIX:VERSION:`); `ping_seconds` the period of
        the partition guard."""
        super().__init__(**sizes)
        self._connect = connect
        self._skip = len(key_base)
        self._ping_seconds = ping_seconds
        self._invalidations = None
        self._ping_unanswered = False
        self._pid = os.getpid()
        self._guarded_in = None  # the process whose guard thread runs
        self._retry_at = 0.0
        self._opening = threading.Lock()

    def _prepare(self):
        """Open the connection if there is none, outside the lock: opening can wait up to the socket
        timeout, so one thread tries while the others go on without the copy."""
        if self._pid != os.getpid():  # forked: the connection belongs to the parent (left untouched)
            with self._lock:
                self._pid, self._invalidations = os.getpid(), None
                self._reset()
        if self._invalidations is not None or time.monotonic() < self._retry_at:
            return
        if not self._opening.acquire(blocking=False):
            return
        try:
            invalidations = self._connect()
        except Exception as error:
            with self._lock:
                self._fail(error)
        else:
            with self._lock:
                self._invalidations, self._ping_unanswered = invalidations, False
                self._reset()  # anything held from before this connection may have missed a message
            self._guard()
        finally:
            self._opening.release()

    def _guard(self):
        if self._guarded_in != os.getpid():  # threads do not survive a fork
            self._guarded_in = os.getpid()
            thread = threading.Thread(
                target=_guard, args=(weakref.ref(self), self._ping_seconds), name="installation-cache-guard", daemon=True
            )
            thread.start()

    def check(self):
        """The partition guard, every `ping_seconds`: empty the copy when Redis did not answer the
        previous PING (the connection went silent, so invalidation messages may be lost), then PING."""
        with self._lock:
            if self._invalidations is None or not self._sync():
                return
            if self._ping_unanswered:
                self._fail(TimeoutError("no answer to PING"))
                return
            try:
                self._invalidations.ping()
            except Exception as error:
                self._fail(error)
                return
            self._ping_unanswered = True

    def _sync(self):
        """Apply the messages waiting on the connection; False when this copy can't be trusted."""
        if self._invalidations is None:
            return False
        try:
            while self._invalidations.pending():
                self._apply(*self._invalidations.read())
        except Exception as error:
            self._fail(error)
            return False
        return True

    def _apply(self, kind, keys):
        if kind == "pong":
            self._ping_unanswered = False
            return
        self._epoch += 1
        if kind != "invalidated" or keys is None:  # None: Redis was flushed; anything else: unexpected
            self._items.clear()
            return
        for key in keys:
            self._items.pop(key.decode()[self._skip:], None)

    def _fail(self, error):
        if self._invalidations is not None or self._retry_at == 0.0:
            logger.warning("Local installation cache off for %ss (Redis invalidations unavailable: %s)",
                           _RETRY_SECONDS, type(error).__name__)
            metrics.LOCAL_COPY_OFF.inc()
        if self._invalidations is not None:
            self._invalidations.close()
        self._invalidations = None
        self._retry_at = time.monotonic() + _RETRY_SECONDS
        self._reset()


def _guard(copy_ref, seconds):
    """The guard thread of one copy; ends when the copy is gone (or the process forked)."""
    pid = os.getpid()
    while True:
        time.sleep(seconds)
        copy = copy_ref()
        if copy is None or os.getpid() != pid:
            return
        copy.check()
        del copy
