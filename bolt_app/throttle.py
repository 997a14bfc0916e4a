"""A per-client bound on how often something may happen, in Django's cache (Redis in production).

Each anonymous `GET /slack/install` issues an OAuth state (a database row without Redis, a Redis key
with it): without a bound, one client could write as many as it can send requests.
"""

import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def client_ip(request) -> str:
    """The client's address. Behind the proxy (SECURE_PROXY_SSL_HEADER set), the last entry of
    X-Forwarded-For: the one the proxy appended (a client can forge only the entries before it)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return forwarded.rsplit(",", 1)[-1].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")


def allow(scope: str, client: str, limit: int, period: int) -> bool:
    """Whether `client` may do `scope` once more: at most `limit` times in a window of `period`
    seconds that starts with its first time. A cache outage allows (it must not stop installs)."""
    key = f"throttle:{scope}:{client}"
    try:
        cache.add(key, 0, timeout=period)
        return cache.incr(key) <= limit
    except ValueError:  # the window ended between add and incr
        return True
    except Exception as error:
        logger.warning("Throttle unavailable, allowing: %s", type(error).__name__)
        return True
