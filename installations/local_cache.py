"""Each process's copy of what the installation cache holds: decoded, so a warm event neither
decrypts nor unpickles a cached entry, and, with Redis, makes no round trip at all.

Entries are kept (as plaintext pickles, in a bounded LRU) with the workspace generation they were
read under (see `installations.cache`), and only served under that generation:

- `LocalCopy` (any cache but Redis): the store reads the workspace's current generation from the
  shared cache (one small read) and the copy serves what it holds under it.
- `TrackedLocalCopy` (Redis): Redis itself tells the process when a generation key changes
  (server-assisted client-side caching: `CLIENT TRACKING ... BCAST`, Redis >= 6), so not even the
  generation is read. One dedicated connection per process receives an invalidation message
  whenever a generation key is deleted, created or expires; before every lookup the copy applies
  the messages already waiting on it (one non-blocking poll, ~3 µs). A write made by any process
  is seen by every other process's next event: Redis queues the invalidation message before it
  answers the writer. Whenever it cannot be sure (the connection broke or cannot be opened, Redis
  was flushed, the server refuses tracking, the process forked) it empties itself and the store
  reads Redis as before; entries also age out after `max_age` seconds, a bound on staleness should
  the connection go silent without breaking. A fill races with invalidations: a lookup returns an
  *epoch*, and `fill` keeps nothing if any invalidation arrived since, so a generation read just
  before it was deleted is never kept.
"""

import logging
import os
import select
import threading
import time
from collections import OrderedDict

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from installations import metrics

logger = logging.getLogger(__name__)

_RETRY_SECONDS = 5
_CHANNEL = "__redis__:invalidate"


def for_cache(alias, tracked_prefix, ttl):
    """The local copy for the Django cache `alias` (None when INSTALLATION_LOCAL_CACHE_SIZE is 0).
    Its entries live no longer than the cache's own (`ttl`)."""
    if settings.INSTALLATION_LOCAL_CACHE_SIZE <= 0:
        return None
    sizes = dict(
        max_entries=settings.INSTALLATION_LOCAL_CACHE_SIZE,
        max_age=min(settings.INSTALLATION_LOCAL_CACHE_MAX_AGE, ttl),
    )
    cache = caches[alias]
    key_base = cache.make_key("")
    if not isinstance(cache, RedisCache) or cache.make_key(tracked_prefix) != key_base + tracked_prefix:
        return LocalCopy(**sizes)  # not Redis, or a custom KEY_FUNCTION: no messages to rely on
    url = cache._servers[0]  # the server Django writes to
    # Django's pool options (timeouts, TLS, credentials), but redis-py's own RESP2 parser.
    options = {name: value for name, value in cache._cache._pool_options.items() if name != "parser_class"}

    def connect():
        client = redis.Redis.from_url(url, protocol=2, **options)
        return client.connection_pool.make_connection()

    return TrackedLocalCopy(connect=connect, key_base=key_base, tracked_prefix=tracked_prefix, **sizes)


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

    def __init__(self, *, connect, key_base, tracked_prefix, **sizes):
        """`connect()` opens a RESP2 redis-py connection; `key_base` is what the Django cache puts
        before every key (`KEY_PREFIX:VERSION:`); `tracked_prefix` the logical prefix of the keys
        whose changes empty this copy (the generation keys)."""
        super().__init__(**sizes)
        self._connect = connect
        self._key_base = key_base
        self._tracked_prefix = tracked_prefix
        self._connection = None
        self._poll = None
        self._client_id = None
        self._pid = os.getpid()
        self._retry_at = 0.0
        self._opening = threading.Lock()

    def _prepare(self):
        """Open the tracking connection if there is none, outside the lock: opening can wait up to
        the socket timeout, so one thread tries while the others go on without the copy."""
        if self._pid != os.getpid():  # forked: the connection belongs to the parent
            with self._lock:
                self._pid, self._connection = os.getpid(), None
                self._reset()
        if self._connection is not None or time.monotonic() < self._retry_at or not self._opening.acquire(blocking=False):
            return
        try:
            connection = self._open()
        except Exception as error:
            with self._lock:
                self._fail(error)
        else:
            with self._lock:
                self._connection = connection
                self._reset()  # anything held from before this connection may have missed a message
        finally:
            self._opening.release()

    def _sync(self):
        """Apply the invalidations waiting on the connection; False when this copy can't be trusted."""
        if self._connection is None:
            return False
        try:
            # One poll() when nothing is waiting (redis-py's can_read makes three system calls);
            # a drain leaves redis-py's read buffer empty, so the socket alone tells.
            if self._poll.poll(0):
                while self._connection.can_read(0):
                    self._apply(self._connection.read_response())
        except Exception as error:
            self._fail(error)
            return False
        return True

    def _open(self):
        connection = self._connect()
        try:
            connection.connect()
            connection.send_command("CLIENT", "ID")
            client_id = self._client_id = connection.read_response()
            # Redirect to itself: in RESP2 the messages come as a pub/sub channel.
            prefix = self._key_base + self._tracked_prefix
            connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", prefix)
            if connection.read_response() not in (b"OK", "OK"):
                raise ConnectionError("CLIENT TRACKING refused")
            connection.send_command("SUBSCRIBE", _CHANNEL)
            connection.read_response()
            self._poll = select.poll()
            self._poll.register(connection._sock, select.POLLIN | select.POLLPRI)
        except Exception:
            connection.disconnect()
            raise
        return connection

    def _apply(self, message):
        self._epoch += 1
        keys = message[2] if isinstance(message, list) and len(message) == 3 and message[0] == b"message" else None
        if not isinstance(keys, list):  # None: Redis was flushed; anything else: unexpected
            self._items.clear()
            return
        skip = len(self._key_base)
        for key in keys:
            self._items.pop(key.decode()[skip:], None)

    def _fail(self, error):
        if self._connection is not None or self._retry_at == 0.0:
            logger.warning("Local installation cache off for %ss (Redis invalidations unavailable: %s)",
                           _RETRY_SECONDS, type(error).__name__)
            metrics.LOCAL_COPY_OFF.inc()
        if self._connection is not None:
            try:
                self._connection.disconnect()
            except Exception:
                pass
        self._connection = None
        self._retry_at = time.monotonic() + _RETRY_SECONDS
        self._reset()
