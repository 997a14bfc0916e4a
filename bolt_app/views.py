"""HTTP endpoints: Slack's (served by Bolt's Django adapter) and the health checks."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from slack_bolt.adapter.django.handler import to_bolt_request, to_django_response
from slack_sdk.signature import SignatureVerifier

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
    try:
        has_body = bool(request.body)
    except (RequestDataTooBig, ValueError):  # ValueError: a Content-Length that is not a number
        has_body = True
    # Browsers send no body here (Bolt would read it), nor NUL characters (PostgreSQL refuses them).
    if has_body or not storable(dict(request.GET.lists())):
        return HttpResponseBadRequest("Bad request.", content_type="text/plain")
    response = get_handler().handle(request)
    for morsel in response.cookies.values():
        morsel["secure"] = request.is_secure() or ""
        morsel["samesite"] = "Lax"
    return response


@csrf_exempt
def slack_events(request):
    """Events, commands and interactions, handed to Bolt once they are Slack's and readable.

    Bolt parses a body before checking its signature, and indexes payloads without checking their
    shape: an unsigned, unreadable or misshapen body would be a 500 there. Here it is a 4xx.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        body = request.body  # at most DATA_UPLOAD_MAX_MEMORY_SIZE
    except RequestDataTooBig:
        return refusal(413, "request body too large")
    except ValueError:  # a Content-Length that is not a number (gunicorn refuses those itself)
        return refusal(400, "invalid Content-Length")
    try:
        bolt_request = to_bolt_request(request)
    except Exception:  # not UTF-8, neither JSON nor a form, or ids of the wrong type
        bolt_request = None
    payload = bolt_request.body if bolt_request else None
    # Slack's ssl_check is the one request it does not sign; Bolt answers it.
    if not is_signed(body, request.headers) and not (isinstance(payload, dict) and payload.get("ssl_check") == "1"):
        return refusal(401, "invalid request")
    if not readable(payload):
        return refusal(400, "unreadable request")
    # What SlackRequestHandler.handle does for a POST, without parsing the body a second time.
    # Bolt still checks the signature itself (its RequestVerification middleware).
    return to_django_response(get_handler().app.dispatch(bolt_request))


def refusal(status, reason):
    return JsonResponse({"error": reason}, status=status)


def is_signed(body, headers):
    try:
        return SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(body, headers)
    except (ValueError, TypeError):  # a timestamp that is not a number, a signature that is not ASCII
        return False


# What Bolt's routing reads from a payload without checking it, with the type Slack always sends:
# a type, an object whose listed fields must be there, or a non-empty list of such objects.
# (Bolt's own parser, run first, already refuses ids and `authorizations` of the wrong type.)
PAYLOAD_SHAPE = {
    "type": str,
    "command": str,
    "callback_id": str,
    "action_id": str,
    "block_id": str,
    "event": {"type": str},
    "view": {"type": str},
    "container": {},
    "message": {},
    "actions": [{}],
}


def readable(payload) -> bool:
    """Whether Bolt can route `payload` (a request body it parsed) without tripping over its shape,
    and the store can look up its ids."""
    return (
        isinstance(payload, dict)
        and all(name not in payload or _has_shape(payload[name], shape) for name, shape in PAYLOAD_SHAPE.items())
        and storable(payload)
    )


def storable(value) -> bool:
    """No NUL character and no lone surrogate in any string of `value`: Slack sends neither, and no
    database takes them (PostgreSQL refuses a NUL even in a WHERE clause)."""
    pending = [value]
    while pending:  # iterative: a parsed body nests nearly as deep as Python's stack allows
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value or not value.isascii() and _has_surrogate(value):
                return False
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _has_surrogate(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _has_shape(value, shape) -> bool:
    if isinstance(shape, type):
        return isinstance(value, shape)
    if isinstance(shape, list):
        return isinstance(value, list) and bool(value) and all(_has_shape(item, shape[0]) for item in value)
    return isinstance(value, dict) and all(name in value and _has_shape(value[name], part) for name, part in shape.items())


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
