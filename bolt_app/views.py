"""HTTP endpoints: Slack's (served by Bolt's Django adapter) and the health checks."""

import logging

from django.conf import settings
from django.http import HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from bolt_app.app import get_handler
from installations import models
from installations.stores import redis_client

logger = logging.getLogger(__name__)


def slack_oauth(request):
    """`/slack/install` and `/slack/oauth_redirect`.

    Bolt's Django adapter marks every cookie `Secure`, so over plain http (localhost) the browser
    never sends the state cookie back and every install fails (bolt-python #166, #184). The cookie is
    Secure exactly when the request is (behind a TLS proxy: SECURE_PROXY_SSL_HEADER).
    """
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    response = get_handler().handle(request)
    for morsel in response.cookies.values():
        morsel["secure"] = request.is_secure() or ""
        morsel["samesite"] = "Lax"
    return response


@csrf_exempt
def slack_events(request):
    """Events, commands and interactions; Bolt verifies the signature (401 if wrong)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return get_handler().handle(request)


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready when the database (and Redis, if configured) answer; also counts the workspaces whose
    token refresh Slack refused, so operators' monitoring sees them (the service itself is fine)."""
    failing, status = [], {}
    try:
        status["needs_reinstall"] = models.Workspace.objects.filter(status=models.Workspace.NEEDS_REINSTALL).count()
    except Exception as error:
        logger.warning("readyz: database unavailable: %s", type(error).__name__)
        failing.append("database")
    if settings.REDIS_URL:
        try:
            redis_client().ping()
        except Exception as error:
            logger.warning("readyz: redis unavailable: %s", type(error).__name__)
            failing.append("redis")
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing}, status=503)
    return JsonResponse({"status": "ok", **status})
