"""Slack's HTTP endpoints, served by Bolt's Django adapter (health checks: bolt_app/health.py)."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from slack_bolt.adapter.django.handler import to_django_response
from slack_sdk.signature import SignatureVerifier

from bolt_app import oauth, payloads, throttle
from bolt_app.app import get_handler


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
    if has_body or not payloads.storable(dict(request.GET.lists())):
        return HttpResponseBadRequest("Bad request.", content_type="text/plain")
    if request.path == reverse("slack_install") and not throttle.allow(
        "install", throttle.client_ip(request), settings.INSTALL_PAGES_PER_CLIENT_PER_MINUTE, 60
    ):
        return too_many_installs()
    response = get_handler().handle(request)
    for morsel in response.cookies.values():
        morsel["secure"] = request.is_secure() or ""
        morsel["samesite"] = "Lax"
    return response


def too_many_installs():
    title = "Too many install attempts"
    explanation = "This network started many installs in the last minute. Wait a minute, then try again."
    response = to_django_response(oauth.page("slack/failure.html", status=429, title=title,
                                             explanation=explanation, reason="rate_limited"))
    response["Retry-After"] = "60"
    return response


@csrf_exempt
def slack_events(request):
    """Events, commands and interactions: Bolt's handler serves them once they are Slack's.

    Bolt parses a body before checking its signature, so an unsigned body costs a parse (a 1 MB form:
    270 ms of CPU). Here the signature is checked over the raw bytes first, and only a signed body
    reaches Bolt, which parses it once; `bolt_app.payloads.CheckShape` then refuses what it could not
    route. Slack's `ssl_check` is the one request Slack does not sign; Bolt answers it.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        body = request.body  # at most DATA_UPLOAD_MAX_MEMORY_SIZE
    except RequestDataTooBig:
        return refusal(413, "request body too large")
    except ValueError:  # a Content-Length that is not a number (gunicorn refuses those itself)
        return refusal(400, "invalid Content-Length")
    signed = is_signed(body, request.headers)
    if not signed and not may_be_ssl_check(body, request.content_type):
        return refusal(401, "invalid request")
    try:
        return get_handler().handle(request)
    # What escapes Bolt's handler is its parser's: Bolt's dispatch turns its own errors into a response.
    # (Not UTF-8, neither JSON nor a form, nested too deep, ids of types Bolt's context cannot take.)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        if not signed:
            return refusal(401, "invalid request")
        return refusal(400, "unreadable request")


def refusal(status, reason):
    return JsonResponse({"error": reason}, status=status)


def is_signed(body, headers):
    try:
        return SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(body, headers)
    except (ValueError, TypeError):  # a timestamp that is not a number, a signature that is not ASCII
        return False


def may_be_ssl_check(body, content_type):
    """Slack's unsigned `ssl_check=1&token=...`: a short form, told apart without parsing."""
    return (
        content_type == "application/x-www-form-urlencoded" and len(body) <= 256 and b"ssl_check=1" in body.split(b"&")
    )
