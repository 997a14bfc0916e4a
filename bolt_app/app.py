"""The Bolt `App`, built from Django settings once per process (and again if tests change settings).

`bolt_app.app.app` is the App, using the process's stores (`installations.stores`); `get_handler()`
the Django request handler. Building is lazy so importing this module touches neither settings nor the network.
"""

import logging

from django.conf import settings
from slack_bolt import App
from slack_bolt.adapter.django import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings

from bolt_app import listeners
from bolt_app.authorize import StoreAuthorize
from bolt_app.authorize_url import EncodedAuthorizeUrlGenerator
from bolt_app.oauth import CALLBACK_OPTIONS, InstallFlow
from bolt_app.payloads import CheckShape
from installations import stores
from installations.per_process import PerProcess
from installations.slack_api import web_client
from plugins.scopes import requested as requested_scopes

logger = logging.getLogger("slackhub.bolt")


def build_app(installation_store, oauth_state_store) -> App:
    client = web_client()
    oauth_settings = OAuthSettings(
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        scopes=requested_scopes(),  # SLACK_SCOPES and every plugin's
        user_scopes=settings.SLACK_USER_SCOPES,
        redirect_uri=settings.SLACK_REDIRECT_URI,
        authorization_url=settings.SLACK_AUTHORIZE_URL,
        installation_store=installation_store,
        state_store=oauth_state_store,
        state_expiration_seconds=settings.SLACK_STATE_EXPIRATION_SECONDS,
        token_rotation_expiration_minutes=settings.SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES,
        callback_options=CALLBACK_OPTIONS,
        logger=logger,
    )
    # slack_sdk pastes `team` into the "Add to Slack" link unencoded (issue 14): bolt_app/authorize_url.py.
    oauth_settings.authorize_url_generator = EncodedAuthorizeUrlGenerator.like(oauth_settings.authorize_url_generator)
    app = App(
        signing_secret=settings.SLACK_SIGNING_SECRET,
        client=client,
        logger=logger,
        installation_store=installation_store,
        # Misshapen payloads stop before the store is asked (bolt_app/payloads.py).
        before_authorize=CheckShape(),
        authorize=StoreAuthorize(installation_store, logger),
        oauth_flow=InstallFlow(client=client, logger=logger, settings=oauth_settings),
    )
    # Every checked request goes to the broker: one processing per event is the worker's claim
    # (across Slack's retries, replays and redeliveries alike), not a round trip in the request.
    listeners.register(app)
    return app


def _build():
    app = build_app(stores.installation_store(), stores.oauth_state_store())
    # The adapter installs Bolt's Django listener start/completion handlers, which release the
    # thread-local DB connections of Bolt's worker threads (kept: our runner is the default).
    return app, SlackRequestHandler(app)


# Built again when tests override a setting it reads (e.g. the live server's URL).
_built = PerProcess(_build, ("SLACK_", "PLUGIN", "SANDBOX_", "TOKEN_", "INSTALLATION_", "CACHES", "REDIS_"))


def get_app() -> App:
    return _built()[0]


def get_handler() -> SlackRequestHandler:
    return _built()[1]


def __getattr__(name):
    if name == "app":
        return get_app()
    raise AttributeError(name)
