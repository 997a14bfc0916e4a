"""Redis as Django's cache gives it to us: the one module that touches Django's and redis-py's
private internals (`RedisCache._cache`, `_servers`, `_pool_options`, a connection's socket).

- `RedisCache`: Django's, reusing one client per connection pool. Django's
  `RedisCacheClient.get_client` builds a new `redis.Redis` on every cache call; with redis-py 8 that
  costs ~120 µs of CPU (it fills a table of response callbacks), paid twice per event here. A
  `redis.Redis` is thread-safe (connections come from its pool), so one per pool serves every thread.
- `redis_client()` / `redis_key()`: the client and key prefix behind the installation cache, for what
  Django's cache API cannot do (locks, GETDEL).
- `Invalidations`: a connection of its own on which Redis pushes a message whenever a key under a
  prefix changes (server-assisted client-side caching, `CLIENT TRACKING ... BCAST`, Redis >= 6).
"""

import select

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_CHANNEL = "__redis__:invalidate"


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient


def redis_client():
    """The redis-py client behind the installation cache (a Django Redis cache)."""
    return caches[settings.INSTALLATION_CACHE_ALIAS]._cache.get_client(write=True)


def redis_key(*parts):
    """A raw Redis key under the installation cache's KEY_PREFIX (several deployments may share one Redis)."""
    prefix = settings.CACHES[settings.INSTALLATION_CACHE_ALIAS].get("KEY_PREFIX", "")
    return ":".join([prefix, *(part or "" for part in parts)])


def tracked_key_prefix(cache, prefix):
    """The raw Redis prefix of the cache's keys starting with `prefix`; None when the cache is not
    Redis or maps keys through a custom KEY_FUNCTION (then no prefix covers them)."""
    if not isinstance(cache, DjangoRedisCache):
        return None
    base = cache.make_key("")
    return base + prefix if cache.make_key(prefix) == base + prefix else None


class Invalidations:
    """One RESP2 connection, to the server Django writes to with Django's pool options (timeouts,
    TLS, credentials), on which Redis pushes the keys under `prefix` that changed.

    `pending()` polls the socket without blocking (one `poll()` system call: redis-py's `can_read`
    makes three); `read()` returns ("invalidated", [raw keys] or None for a flush), ("pong", None)
    or ("other", message). Any method raises when the connection is broken.
    """

    def __init__(self, cache, prefix, name):
        options = {key: value for key, value in cache._cache._pool_options.items() if key != "parser_class"}
        client = redis.Redis.from_url(cache._servers[0], protocol=2, **options)
        self._connection = connection = client.connection_pool.make_connection()
        try:
            connection.connect()
            # A name makes the connection easy to spot (and to kill) in CLIENT LIST.
            connection.send_command("CLIENT", "SETNAME", name)
            connection.read_response()
            connection.send_command("CLIENT", "ID")
            client_id = connection.read_response()
            # Redirected to itself: in RESP2 the messages come as a pub/sub channel.
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

    def pending(self):
        # A drain leaves redis-py's read buffer empty, so when the socket has nothing, nothing waits.
        return bool(self._poll.poll(0)) and self._connection.can_read(0)

    def read(self):
        message = self._connection.read_response()
        if isinstance(message, list) and len(message) == 3 and message[0] == b"message":
            keys = message[2]
            return "invalidated", keys if isinstance(keys, list) else None
        if isinstance(message, list) and message and message[0] == b"pong":
            return "pong", None
        return "other", message

    def ping(self):
        """Send a PING (answered on this connection after every message Redis queued before it)."""
        self._connection.send_command("PING")

    def close(self):
        try:
            self._connection.disconnect()
        except Exception:
            pass
