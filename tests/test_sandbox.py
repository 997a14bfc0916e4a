"""The sandbox stands in for Slack: consent page, Web API, and Slack's signed requests to the service."""

import base64
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.signature import SignatureVerifier

from sandbox import events
from sandbox.models import ApiCall, Message, Token, Workspace

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_seed")]

BANNER = "Local sandbox — this is not Slack"


def consent_url(scopes=("chat:write", "commands"), user_scopes=(), state="state-1", **kwargs):
    generator = AuthorizeUrlGenerator(
        client_id=settings.SLACK_CLIENT_ID, scopes=list(scopes), user_scopes=list(user_scopes),
        authorization_url="/sandbox/oauth/v2/authorize", **kwargs,
    )
    return generator.generate(state)


def allow(client, target="T0ACME0001", user="T0ACME0001:U0ACME0001", **consent):
    return client.post(consent_url(**consent), {"target": target, "user": user, "decision": "allow"})


def code_from(response):
    return parse_qs(urlparse(response["Location"]).query)["code"][0]


def basic_auth(client_id=None, client_secret=None):
    pair = f"{client_id or settings.SLACK_CLIENT_ID}:{client_secret or settings.SLACK_CLIENT_SECRET}"
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair.encode()).decode()}


def exchange(client, code, **credentials):
    return client.post("/sandbox/api/oauth.v2.access", {"code": code}, **basic_auth(**credentials)).json()


def install(client, **consent):
    return exchange(client, code_from(allow(client, **consent)))


def call(client, method, token=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(f"/sandbox/api/{method}", params, **headers).json()


def test_consent_page_lists_workspaces_and_is_marked_as_sandbox(client):
    page = client.get(consent_url(user_scopes=["search:read"])).content.decode()

    assert BANNER in page
    assert settings.SLACK_APP_NAME in page
    for text in ["Acme Corp", "Globex", "Initech Grid — entire organization", "Acme Corp — Grace", "chat:write", "search:read"]:
        assert text in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_unknown_client_id_shows_an_error_and_does_not_redirect(client):
    response = client.get("/sandbox/oauth/v2/authorize?client_id=someone-else&scope=chat:write&state=s")

    assert response.status_code == 400
    assert "Unknown client_id" in response.content.decode()


@override_settings(SLACK_REDIRECT_URI="https://app.example/slack/oauth_redirect")
def test_allow_redirects_to_the_app_with_a_code_and_the_state(client):
    response = allow(client)

    assert response.status_code == 302
    assert response["Location"].startswith("https://app.example/slack/oauth_redirect?code=")
    assert parse_qs(urlparse(response["Location"]).query)["state"] == ["state-1"]


def test_cancel_redirects_with_access_denied(client):
    response = client.post(consent_url(), {"decision": "cancel"})

    assert response["Location"] == "http://testserver/slack/oauth_redirect?error=access_denied&state=state-1"


def test_installing_user_must_belong_to_the_chosen_workspace(client):
    response = allow(client, target="T0GLOBEX01", user="T0ACME0001:U0ACME0001")

    assert response.status_code == 400
    assert "Pick a person from the workspace" in response.content.decode()


def test_code_exchange_answers_like_slack_and_a_code_works_once(client):
    code = code_from(allow(client, user_scopes=["search:read"]))

    first = exchange(client, code)
    again = exchange(client, code)

    assert first["ok"] is True
    assert first["access_token"].startswith("xoxb-")
    assert first["token_type"] == "bot"
    assert first["scope"] == "chat:write,commands"
    assert first["team"] == {"id": "T0ACME0001", "name": "Acme Corp"}
    assert first["enterprise"] is None and first["is_enterprise_install"] is False
    assert first["authed_user"]["id"] == "U0ACME0001"
    assert first["authed_user"]["access_token"].startswith("xoxp-")
    assert "refresh_token" not in first
    assert again == {"ok": False, "error": "invalid_code"}


def test_org_wide_install_has_no_team_and_reports_the_org(client):
    installed = install(client, target="E0INITECH1", user="T0INIEAST1:W0INITECH1")
    auth = call(client, "auth.test", installed["access_token"])

    assert installed["team"] is None
    assert installed["enterprise"] == {"id": "E0INITECH1", "name": "Initech Grid"}
    assert installed["is_enterprise_install"] is True
    assert auth["team_id"] == "E0INITECH1" and auth["enterprise_id"] == "E0INITECH1"
    assert auth["url"] == "https://initech.enterprise.slack.com/"


def test_wrong_client_credentials_are_refused(client):
    code = code_from(allow(client))

    assert exchange(client, code, client_secret="wrong")["error"] == "bad_client_secret"
    assert exchange(client, code, client_id="wrong")["error"] == "invalid_client_id"
    assert exchange(client, code)["ok"] is True


def test_auth_test_on_a_bot_token_returns_the_bot_id(client):
    token = install(client)["access_token"]

    auth = call(client, "auth.test", token)

    assert auth["ok"] is True
    assert auth["bot_id"].startswith("B")
    assert auth["team_id"] == "T0ACME0001"
    assert auth["url"] == "https://acme.slack.com/"
    assert ApiCall.objects.filter(method="auth.test", team_id="T0ACME0001", ok=True).count() == 1


def test_missing_expired_and_revoked_tokens_are_refused(client):
    expired, revoked = install(client)["access_token"], install(client)["access_token"]
    Token.objects.filter(token=expired).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert call(client, "auth.revoke", revoked) == {"ok": True, "revoked": True}
    assert call(client, "auth.test", revoked)["error"] == "invalid_auth"
    assert call(client, "auth.test", expired)["error"] == "token_expired"
    assert call(client, "chat.postMessage", channel="C0ACMEGEN1", text="hi")["error"] == "not_authed"
    assert call(client, "auth.test", "xoxb-never-issued")["error"] == "invalid_auth"


def test_unknown_method_is_a_404_like_slack(client):
    response = client.post("/sandbox/api/chat.teleport")

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "unknown_method"}


@pytest.mark.django_db(transaction=True)
@override_settings(SANDBOX_TOKEN_ROTATION=True, SANDBOX_TOKEN_EXPIRES_IN=600)
def test_slack_sdk_refreshes_a_rotating_token_once(client, live_server):
    installed = install(client)
    rotator = TokenRotator(
        client_id=settings.SLACK_CLIENT_ID, client_secret=settings.SLACK_CLIENT_SECRET,
        client=WebClient(base_url=f"{live_server.url}/sandbox/api/"),
    )
    bot = Bot(
        bot_token=installed["access_token"], bot_refresh_token=installed["refresh_token"],
        bot_token_expires_at=int(time.time()) + installed["expires_in"], bot_id="B0ACME0001",
        bot_user_id=installed["bot_user_id"], installed_at=time.time(),
    )

    refreshed = rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=60)
    reused = call(client, "oauth.v2.access", grant_type="refresh_token", refresh_token=installed["refresh_token"],
                  client_id=settings.SLACK_CLIENT_ID, client_secret=settings.SLACK_CLIENT_SECRET)

    assert installed["access_token"].startswith("xoxe.xoxb-1-") and installed["expires_in"] == 600
    assert refreshed.bot_token.startswith("xoxe.xoxb-1-") and refreshed.bot_token != installed["access_token"]
    assert refreshed.bot_refresh_token.startswith("xoxe-1-")
    assert reused == {"ok": False, "error": "invalid_refresh_token"}
    assert call(client, "auth.test", installed["access_token"])["ok"] is True
    assert ApiCall.objects.filter(method="oauth.v2.access", grant_type="refresh_token").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_message_posted_with_slack_sdk_shows_on_the_sandbox_page(client, live_server):
    web = WebClient(token=install(client)["access_token"], base_url=f"{live_server.url}/sandbox/api/")

    posted = web.chat_postMessage(channel="C0ACMEGEN1", text="Hello from the app")
    web.chat_postEphemeral(channel="C0ACMEGEN1", user="U0ACME0002", text="Only for Grace")
    page = client.get("/sandbox/").content.decode()

    assert posted["message"]["user"] == "UB0ACME0001"
    assert Message.objects.get(ts=posted["ts"]).workspace_id == "T0ACME0001"
    assert BANNER in page and "Hello from the app" in page
    assert page.index("Only for Grace") < page.index("Hello from the app")
    assert "ephemeral, only U0ACME0002 sees it" in page


def test_sign_produces_what_slack_sdk_verifies():
    body = json.dumps(events.event_callback_body("T0ACME0001", events.app_mention("T0ACME0001", "U0ACME0002", "C0ACMEGEN1", "hi"))).encode()

    headers = events.sign(body, "the-secret")

    assert SignatureVerifier("the-secret").is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    assert not SignatureVerifier("the-secret").is_valid_request(body, events.sign(body, "the-secret", timestamp=1))


@pytest.fixture
def fake_service():
    """A stand-in for the service's /slack/events that keeps what it was sent, with valid signatures."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(body, dict(self.headers))
            received.append((self.path, self.headers["Content-Type"], body, signed))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}", received
    server.shutdown()


def test_mention_button_sends_a_signed_app_mention_to_the_service(client, fake_service):
    host, received = fake_service
    install(client)

    response = client.post("/sandbox/workspaces/T0ACME0001/mention", {"user": "U0ACME0002", "text": "hi"}, HTTP_HOST=host, follow=True)

    (path, content_type, body, signed), = received
    envelope = json.loads(body)
    assert path == "/slack/events" and signed and content_type == "application/json"
    assert envelope["type"] == "event_callback" and envelope["team_id"] == "T0ACME0001"
    assert envelope["event"]["text"] == "<@UB0ACME0001> hi" and envelope["event"]["user"] == "U0ACME0002"
    assert envelope["authorizations"][0]["user_id"] == "UB0ACME0001"
    assert "answered HTTP 200" in response.content.decode()


def test_hello_button_sends_a_signed_slash_command(client, fake_service):
    host, received = fake_service

    client.post("/sandbox/workspaces/T0GLOBEX01/slash-command", {"user": "U0GLOBEX02"}, HTTP_HOST=host)

    (path, content_type, body, signed), = received
    form = parse_qs(body.decode())
    assert signed and content_type == "application/x-www-form-urlencoded"
    assert form["command"] == ["/hello"] and form["team_id"] == ["T0GLOBEX01"] and form["user_id"] == ["U0GLOBEX02"]


def test_uninstall_button_revokes_tokens_and_tells_the_service(client, fake_service):
    host, received = fake_service
    token = install(client, user_scopes=["search:read"])["access_token"]

    client.post("/sandbox/workspaces/T0ACME0001/uninstall", HTTP_HOST=host)

    sent = [json.loads(body)["event"] for _, _, body, signed in received if signed]
    assert [event["type"] for event in sent] == ["app_uninstalled", "tokens_revoked"]
    assert sent[1]["tokens"] == {"oauth": ["U0ACME0001"], "bot": ["UB0ACME0001"]}
    assert call(client, "auth.test", token)["error"] == "invalid_auth"
    assert Workspace.objects.get(pk="T0ACME0001").app_bot_token() is None
