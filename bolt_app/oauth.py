"""The install flow: Bolt's OAuthFlow with our pages and clear failures.

Bolt renders its own minimal install page and raw failure pages, lets a network error or a database
error during the callback escape as a 500, and its Django adapter marks the state cookie `Secure`
(which breaks installs over plain http on localhost, bolt-python #166/#184; views.py fixes that).
"""

import logging
import re
from http.cookies import CookieError, SimpleCookie

from django.conf import settings
from django.core import signing
from django.db import DatabaseError
from django.template.loader import render_to_string
from slack_bolt.error import BoltError
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions
from slack_bolt.response import BoltResponse

from installations import metrics

logger = logging.getLogger(__name__)

# Slack's scopes in plain words, for the install page.
SCOPE_DESCRIPTIONS = {
    "app_mentions:read": "See messages that mention the app",
    "chat:write": "Send messages as the app",
    "commands": "Add slash commands people can use",
    "channels:history": "Read messages in public channels the app is in",
    "channels:read": "See basic information about public channels",
    "groups:history": "Read messages in private channels the app is in",
    "im:history": "Read direct messages with the app",
    "im:write": "Start direct messages with people",
    "users:read": "See people in the workspace",
    "users:read.email": "See people's email addresses",
    "reactions:read": "See emoji reactions",
    "reactions:write": "Add and remove emoji reactions",
    "incoming-webhook": "Post messages to one channel you choose",
    "team:read": "See the workspace's name and domain",
    "files:read": "See files shared in channels the app is in",
    "identity.basic": "Confirm your identity",
    "search:read": "Search messages and files you can see",
    "chat:write.public": "Send messages to public channels without joining them",
    "chat:write.customize": "Send messages with a custom name and picture",
    "channels:join": "Join public channels",
    "groups:read": "See basic information about private channels the app is in",
    "im:read": "See basic information about direct messages with the app",
    "mpim:history": "Read group direct messages the app is in",
    "mpim:read": "See basic information about group direct messages the app is in",
    "users.profile:read": "See people's profile details",
    "files:write": "Upload, edit and delete files as the app",
    "pins:read": "See pinned messages in channels the app is in",
    "pins:write": "Pin and unpin messages",
    "emoji:read": "See the workspace's custom emoji",
    "usergroups:read": "See user groups",
    "links:read": "See links to your domains in messages",
    "links:write": "Show previews of links to your domains",
}

FAILURES = {
    "access_denied": ("Installation cancelled", "You chose Cancel, so nothing was installed."),
    "invalid_browser": (
        "This install started in another browser",
        "The install link is tied to the browser that opened it, and this browser did not present it "
        "(or blocked its cookie). Start again here.",
    ),
    "invalid_state": (
        "This install link has expired or was already used",
        "Install links are good for one use, for a few minutes. Start again to get a fresh one.",
    ),
    "missing_code": ("Slack did not send an authorization", "The reply from Slack had no authorization code."),
    "invalid_code": (
        "Slack did not confirm the installation",
        "The authorization could not be exchanged with Slack (it was refused, expired, or Slack could not be "
        "reached). Nothing was installed.",
    ),
    "unavailable": (
        "Installing is unavailable right now",
        "Our database or cache did not answer. Nothing was installed; please try again in a few minutes.",
    ),
    "storage_error": (
        "We could not save the installation",
        "Slack approved it, but our database was unavailable. Nothing was installed; please try again shortly.",
    ),
    "not_from_slack": (
        "There is no install to finish here",
        "This address is where Slack sends people back after they approve an install, and this visit came "
        "without Slack's answer. To add the app, start from the “Add to Slack” page.",
    ),
}

# Set by the success page: reloading it (the state now consumed, its cookie deleted) says the install
# already succeeded instead of blaming another browser. Signed, and tied to that one callback's state.
INSTALLED_COOKIE = "slackhub-installed"
INSTALLED_COOKIE_SALT = "slackhub.install.done"


def describe_scopes(scopes):
    return [(scope, SCOPE_DESCRIPTIONS.get(scope, scope)) for scope in scopes]


def branding():
    """What every public page shows: the app's name and icon, the support link, the sandbox banner."""
    return {
        "app_name": settings.SLACK_APP_NAME,
        "app_icon_url": settings.SLACK_APP_ICON_URL,
        "support_url": settings.SUPPORT_URL,
        "sandbox": settings.SLACK_SANDBOX,
    }


def page(template, status=200, headers=None, **context):
    html = render_to_string(template, {**branding(), **context})
    # Each page is one person's step of one install (a state in its link, a result): never cached.
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", **(headers or {})}
    return BoltResponse(status=status, body=html, headers=headers)


def _query(request, name):
    return (request.query.get(name) or [None])[0]


def install_succeeded(args):
    installation = args.installation
    if settings.SLACK_SANDBOX:
        open_url = "/sandbox/"
    else:
        open_url = f"https://slack.com/app_redirect?app={installation.app_id}&team={installation.team_id or ''}"
    workspace = installation.team_name or installation.enterprise_name or "your workspace"
    done = signing.dumps(
        {"state": _query(args.request, "state"), "workspace": workspace, "open_url": open_url}, salt=INSTALLED_COOKIE_SALT
    )
    cookies = [
        args.settings.state_utils.build_set_cookie_for_deletion(),
        f"{INSTALLED_COOKIE}={done}; Path=/slack/; Max-Age={settings.SLACK_STATE_EXPIRATION_SECONDS}; HttpOnly",
    ]
    return page("slack/success.html", headers={"Set-Cookie": cookies}, workspace=workspace, open_url=open_url)


def _finished_install(request):
    """The install this browser just finished, if this callback is a reload of its success page."""
    cookie = SimpleCookie()
    try:
        cookie.load((request.headers.get("cookie") or [""])[0])
        done = signing.loads(cookie[INSTALLED_COOKIE].value, salt=INSTALLED_COOKIE_SALT,
                             max_age=settings.SLACK_STATE_EXPIRATION_SECONDS)
    except (KeyError, CookieError, signing.BadSignature):  # no cookie, an odd header, a forged or expired value
        return None
    state = _query(request, "state")
    return done if state and done.get("state") == state else None


def install_failed(args):
    reason = re.sub(r"[^a-z0-9_.]", "", str(args.reason or "").lower())[:64] or "unknown"
    if reason == "invalid_browser":  # a reload: the success page deleted the state cookie
        done = _finished_install(args.request)
        if done:
            return page("slack/success.html", workspace=done["workspace"], open_url=done["open_url"], reloaded=True)
    metrics.OAUTH_FAILURES.labels(reason if reason in FAILURES else "other").inc()  # a bounded label
    title, explanation = FAILURES.get(
        reason, ("Slack reported an error", f"Slack answered with “{reason}”. Nothing was installed.")
    )
    status = args.suggested_status_code if args.suggested_status_code < 500 else 503
    return page("slack/failure.html", status=status, title=title, explanation=explanation, reason=reason)


CALLBACK_OPTIONS = CallbackOptions(success=install_succeeded, failure=install_failed)


class InstallFlow(OAuthFlow):
    """Bolt's flow with our pages; an outage of the state store is a friendly 503, not a 500."""

    def handle_installation(self, request):
        response = self._or_unavailable(super().handle_installation, request)
        response.headers["cache-control"] = ["no-store"]  # Bolt builds this page's response itself
        return response

    def handle_callback(self, request):
        if not any(_query(request, name) for name in ("code", "state", "error")):
            # Opened directly (a bookmark, a typed address): Bolt would blame another browser.
            metrics.OAUTH_FAILURES.labels("not_from_slack").inc()
            title, explanation = FAILURES["not_from_slack"]
            return page("slack/failure.html", status=400, title=title, explanation=explanation, reason="not_from_slack")
        return self._or_unavailable(super().handle_callback, request)

    def _or_unavailable(self, handle, request):
        try:
            return handle(request)
        except Exception as error:  # the database or Redis behind the OAuth state store is down
            logger.error("Install flow unavailable: %s", type(error).__name__)
            metrics.OAUTH_FAILURES.labels("unavailable").inc()
            title, explanation = FAILURES["unavailable"]
            return page("slack/failure.html", status=503, title=title, explanation=explanation, reason="unavailable")

    def build_install_page_html(self, url, request):
        return page(
            "slack/install.html",
            authorize_url=url,
            scopes=describe_scopes(self.settings.scopes or []),
            user_scopes=describe_scopes(self.settings.user_scopes or []),
        ).body

    def run_installation(self, code):
        try:
            return super().run_installation(code)
        except Exception as error:  # Slack unreachable or an unexpected answer: a failure page, not a 500
            logger.warning("OAuth code exchange failed: %s", type(error).__name__)
            return None

    def store_installation(self, request, installation):
        try:
            super().store_installation(request, installation)
        except DatabaseError as error:
            logger.error("Could not save an installation: %s", type(error).__name__)
            raise BoltError("storage unavailable") from error
