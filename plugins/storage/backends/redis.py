"""Plugin storage in Redis (used when `REDIS_URL` is set): expiry is Redis's own."""

from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone

from plugins.storage.backends.base import MachineBaseStorage


class RedisStorage(MachineBaseStorage):
    def init(self):
        self._prefix = f"{settings.PLUGIN_STORAGE_REDIS_PREFIX}:"
        self._redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1, health_check_interval=30
        )

    def _key(self, key):
        return self._prefix + key

    def get(self, key):
        return self._redis.get(self._key(key))

    def set(self, key, value, expires=None):
        self._redis.set(self._key(key), value, ex=expires)

    def delete(self, key):
        self._redis.delete(self._key(key))

    def has(self, key):
        return bool(self._redis.exists(self._key(key)))

    def _scan(self, prefix):
        # The prefix is ours, not a pattern: escape glob characters a key may contain.
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self._key(prefix)) + "*"
        return self._redis.scan_iter(match=pattern, count=1000)

    def size(self, prefix=""):
        keys = list(self._scan(prefix))
        if not keys:
            return 0
        with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.strlen(key)
            return sum(pipe.execute())

    def keys(self, prefix=""):
        keys = sorted(self._scan(prefix))
        with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.strlen(key)
                pipe.ttl(key)
            answers = pipe.execute()
        now, found = timezone.now(), []
        for index, key in enumerate(keys):
            size, ttl = answers[2 * index], answers[2 * index + 1]
            if ttl == -2:  # expired between SCAN and TTL
                continue
            found.append((key.decode()[len(self._prefix):], size, now + timedelta(seconds=ttl) if ttl >= 0 else None))
        return found

    def delete_prefix(self, prefix):
        deleted, batch = 0, []
        for key in self._scan(prefix):
            batch.append(key)
            if len(batch) == 1000:
                deleted += self._redis.delete(*batch)
                batch = []
        if batch:
            deleted += self._redis.delete(*batch)
        return deleted

    def close(self):
        self._redis.close()
