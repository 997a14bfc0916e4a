"""The two ceilings, served by the same gunicorn workers as the app.

- `bare`: a Django view that answers 200 through the same middleware, and nothing else.
- `fixed_token_events`: the app's own path after authorize (the event handed to the plugins through
  the broker, deduplicated by the worker) on a second Bolt App with one fixed bot token, so authorize
  costs nothing (Bolt's SingleTeamAuthorization calls auth.test once, at build).
- `fixed_token_bolt_events`: the same App with the greeting as a Bolt listener, run in the web
  process after the ack with no broker (bench/background.py's ceiling, issue 12).
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
from slack_sdk import WebClient

from bolt_app.listeners import ToPlugins

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


def _fixed_token_app() -> App:
    with _without_oauth_environment():
        # Bolt takes the token from the client when given one. slack_sdk's own WebClient, as a Bolt
        # app has it (a connection per call), not slackhub's (kept-alive connections, counted calls).
        client = WebClient(token=settings.BENCH_FIXED_TOKEN, base_url=settings.SLACK_API_URL)
        return App(signing_secret=settings.SLACK_SIGNING_SECRET, client=client, logger=logger)


def fixed_token_handler() -> SlackRequestHandler:
    with _lock:
        if not _handler:
            app = _fixed_token_app()
            app.use(ToPlugins())
            _handler.append(SlackRequestHandler(app))
        return _handler[0]


@csrf_exempt
def fixed_token_events(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return fixed_token_handler().handle(request)


def answer_mention(event, say):
    """The greeting plugin's answer to a mention (plugins/builtin/greeting.py) as a plain listener."""
    say(text=f"Hi <@{event['user']}>! I'm here. Try `/hello` too.", thread_ts=event.get("thread_ts"))


_bolt_handler = []


def fixed_token_bolt_handler() -> SlackRequestHandler:
    """Issue 12's ceiling (bench/background.py): a fixed-token App whose listener Bolt runs in the web
    process after the ack, on its in-memory thread pool, with no broker (how the app worked before)."""
    with _lock:
        if not _bolt_handler:
            app = _fixed_token_app()
            app.event("app_mention")(answer_mention)
            _bolt_handler.append(SlackRequestHandler(app))
        return _bolt_handler[0]


@csrf_exempt
def fixed_token_bolt_events(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return fixed_token_bolt_handler().handle(request)
