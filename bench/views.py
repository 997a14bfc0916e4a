"""The two ceilings, served by the same gunicorn workers as the app.

- `bare`: a Django view that answers 200 through the same middleware, and nothing else.
- `fixed_token_events`: the app's own path after authorize (deliveries deduplicated, the event handed
  to the plugins through the broker) on a second Bolt App with one fixed bot token, so authorize
  costs nothing (Bolt's SingleTeamAuthorization calls auth.test once, at build).
"""

import logging
import os
import threading
from contextlib import contextmanager

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt
from slack_bolt import App
from slack_bolt.adapter.django import SlackRequestHandler

from bolt_app.dedupe import SkipRepeats
from bolt_app.listeners import ToPlugins
from installations.slack_api import web_client

logger = logging.getLogger("slackhub.bench")
_handler = []
_lock = threading.Lock()


@csrf_exempt
def bare(request):
    return HttpResponse(status=200)


@contextmanager
def _without_oauth_environment():
    """Bolt's App builds OAuth settings from SLACK_CLIENT_ID/SECRET in the environment and then
    drops the given token (slack_bolt/app/app.py); production settings need those variables."""
    saved = {name: os.environ.pop(name) for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET") if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def fixed_token_handler() -> SlackRequestHandler:
    with _lock:
        if not _handler:
            with _without_oauth_environment():
                # Bolt takes the token from the client when given one.
                app = App(
                    signing_secret=settings.SLACK_SIGNING_SECRET, client=web_client(settings.BENCH_FIXED_TOKEN), logger=logger
                )
            app.use(SkipRepeats())
            app.use(ToPlugins())
            _handler.append(SlackRequestHandler(app))
        return _handler[0]


@csrf_exempt
def fixed_token_events(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return fixed_token_handler().handle(request)
