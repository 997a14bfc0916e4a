"""Health endpoints: `/healthz` (the process answers) and `/readyz` (it can serve Slack).

`/readyz` runs every registered check on each probe, so checks stay cheap: a `SELECT 1`, a cache
read. A failing *critical* check makes it a 503 (take this process out of rotation); a failing
non-critical one (e.g. the broker: events are still handled, in the web process) leaves it a 200
that says "degraded". Anonymous probes see the names of what fails; staff and callers holding
`Authorization: Bearer <HEALTH_TOKEN>` also see why, and how many workspaces need a reinstall
(counted at most once per NEEDS_REINSTALL_MAX_AGE seconds).

Other components add checks with `register(name, check, critical=...)`; `check()` returns None when
all is well, and raises or returns a short reason when not.
"""

import hmac
import logging
from typing import Callable, NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import JsonResponse

from installations import models
from plugins.tasks import broker_check

logger = logging.getLogger(__name__)

NEEDS_REINSTALL_MAX_AGE = 30


class Check(NamedTuple):
    function: Callable[[], "str | None"]
    critical: bool


CHECKS: dict[str, Check] = {}


def register(name: str, check: Callable[[], "str | None"], *, critical: bool = True) -> None:
    """Add (or replace) a readiness check; see the module's docstring."""
    CHECKS[name] = Check(check, critical)


def database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def redis():
    if settings.REDIS_URL:
        caches["default"].get("health:probe")  # Django's RedisCache raises when Redis is down


register("database", database)
register("redis", redis)
# With the broker down, events are handled in the web process: degraded, not unready.
register("broker", broker_check, critical=False)


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    failing, degraded, reasons = [], [], {}
    for name, check in CHECKS.items():
        try:
            reason = check.function()
        except Exception as error:
            reason = type(error).__name__
        if reason is not None:
            logger.warning("readyz: %s unavailable: %s", name, reason)
            (failing if check.critical else degraded).append(name)
            reasons[name] = str(reason)
    if failing:
        status, body = 503, {"status": "unavailable", "failing": failing}
    else:
        status, body = 200, {"status": "degraded" if degraded else "ok"}
    if degraded:
        body["degraded"] = degraded
    if _may_see_details(request):
        body["reasons"] = reasons
        if "database" not in failing:
            body["needs_reinstall"] = _needs_reinstall()
    return JsonResponse(body, status=status)


def bearer_matches(request, token: str) -> bool:
    """Whether the request sends `Authorization: Bearer <token>` (constant-time; no token: never)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _may_see_details(request) -> bool:
    if bearer_matches(request, settings.HEALTH_TOKEN):
        return True
    user = getattr(request, "user", None)
    return bool(user and user.is_active and user.is_staff)


def _needs_reinstall():
    """The workspaces whose token refresh Slack refused (the admin lists them), recounted at most
    every NEEDS_REINSTALL_MAX_AGE seconds by the whole fleet: probes come every few seconds, from
    several monitors, to every process."""
    cache = caches["default"]
    try:
        count = cache.get("health:needs_reinstall")
    except Exception:  # Redis down: readyz says so; the count still comes from the database
        count = None
    if count is None:
        count = models.Workspace.objects.filter(status=models.Workspace.NEEDS_REINSTALL).count()
        try:
            cache.set("health:needs_reinstall", count, NEEDS_REINSTALL_MAX_AGE)
        except Exception:
            pass
    return count
