"""The sandbox stands in for Slack: consent page, Web API, and Slack's signed requests to the service."""

import base64
import json
import re
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
    for text in ["Acme Corp", "Globex", "Initech Grid — entire organization", "Grace", "chat:write", "search:read"]:
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
    page = client.get("/sandbox/", follow=True).content.decode()
    graces = client.get("/sandbox/w/T0ACME0001/C0ACMEGEN1/?as=U0ACME0002").content.decode()

    assert posted["message"]["user"] == "UB0ACME0001"
    assert Message.objects.get(ts=posted["ts"]).workspace_id == "T0ACME0001"
    assert BANNER in page and "Hello from the app" in page
    assert "Only for Grace" not in page  # Ada's view
    assert graces.index("Hello from the app") < graces.index("Only for Grace") and "Only visible to you" in graces


def test_sign_produces_what_slack_sdk_verifies():
    body = json.dumps(events.event_callback_body("T0ACME0001", events.app_mention("T0ACME0001", "U0ACME0002", "C0ACMEGEN1", "hi"))).encode()

    headers = events.sign(body, "the-secret")

    assert SignatureVerifier("the-secret").is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    assert not SignatureVerifier("the-secret").is_valid_request(body, events.sign(body, "the-secret", timestamp=1))


fake_service_answer = [""]


@pytest.fixture
def fake_service():
    """A stand-in for the service's /slack/events that keeps what it was sent, with valid signatures
    (and answers `fake_service_answer[0]`)."""
    received = []
    fake_service_answer[0] = ""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(body, dict(self.headers))
            received.append((self.path, self.headers["Content-Type"], body, signed))
            answer = fake_service_answer[0].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}", received
    server.shutdown()


def shown_messages(page):
    """The message list of a sandbox page (not its log of requests)."""
    return page.split('id="region-messages"', 1)[1].split("</section>", 1)[0]


def page_form_post(client, url, host, **data):
    """A form of the sandbox page, sent as its script sends it (the answer is JSON)."""
    return client.post(url, data, HTTP_HOST=host, HTTP_X_REQUESTED_WITH="fetch")


def test_the_composer_sends_a_mention_as_slack_markup(client, fake_service):
    host, received = fake_service
    install(client)

    answer = page_form_post(client, "/sandbox/w/T0ACME0001/C0ACMEGEN1/post", host, **{"as": "U0ACME0002", "text": "@slackhub hi @linus in #random"})

    envelopes = [json.loads(body) for _, _, body, signed in received if signed]
    assert answer.json() == {"notice": "", "error": ""}
    assert [e["event"]["type"] for e in envelopes] == ["message", "app_mention"]
    assert envelopes[1]["event"]["text"] == "<@UB0ACME0001> hi <@U0ACME0003> in <#C0ACMERND1|random>"
    assert envelopes[1]["event"]["user"] == "U0ACME0002"
    assert envelopes[1]["authorizations"][0]["user_id"] == "UB0ACME0001"


def test_the_composer_runs_a_slash_command_with_text(client, fake_service):
    host, received = fake_service
    install(client, target="T0GLOBEX01", user="T0GLOBEX01:U0GLOBEX01")

    page_form_post(client, "/sandbox/w/T0GLOBEX01/C0GLOBGEN1/post", host, **{"as": "U0GLOBEX02", "text": "/hello there"})

    (path, content_type, body, signed), = received
    form = parse_qs(body.decode())
    assert signed and content_type == "application/x-www-form-urlencoded"
    assert form["command"] == ["/hello"] and form["text"] == ["there"]
    assert form["team_id"] == ["T0GLOBEX01"] and form["user_id"] == ["U0GLOBEX02"]


def test_where_the_app_is_not_installed_no_mention_or_command_is_offered_or_sent(client, fake_service):
    host, received = fake_service
    install(client)  # in Acme, not in Globex

    page = client.get("/sandbox/w/T0GLOBEX01/C0GLOBGEN1/").content.decode()
    command = page_form_post(client, "/sandbox/w/T0GLOBEX01/C0GLOBGEN1/post", host, **{"as": "U0GLOBEX01", "text": "/hello"})
    message = page_form_post(client, "/sandbox/w/T0GLOBEX01/C0GLOBGEN1/post", host, **{"as": "U0GLOBEX01", "text": "@slackhub hi"})

    assert "is not installed in Globex" in page and "/hello" not in page and "@slackhub" not in page
    assert command.status_code == 400 and "is not installed" in command.json()["error"]
    assert message.json()["error"] == ""  # people still talk to each other
    assert received == []
    assert Message.objects.get().text == "@slackhub hi"  # not turned into a mention of an absent bot


def test_a_command_answered_with_bolt_s_apology_is_an_ephemeral_message_not_a_success_notice(client, fake_service):
    host, received = fake_service
    install(client)
    apology = ":x: Please install this app into the workspace :bow:"
    fake_service_answer[0] = apology

    answer = page_form_post(client, "/sandbox/w/T0ACME0001/C0ACMEGEN1/post", host, **{"as": "U0ACME0002", "text": "/hello"})
    page = client.get("/sandbox/w/T0ACME0001/C0ACMEGEN1/?as=U0ACME0002").content.decode()
    other = client.get("/sandbox/w/T0ACME0001/C0ACMEGEN1/?as=U0ACME0003").content.decode()

    assert answer.json() == {"notice": "", "error": ""}  # no flash at all, green or otherwise
    shown = Message.objects.get(kind=Message.EPHEMERAL)
    assert shown.text == apology and shown.ephemeral_user == "U0ACME0002"
    assert "Please install this app" in shown_messages(page) and "Only visible to you" in shown_messages(page)
    assert "Please install this app" not in shown_messages(other)


def test_the_page_lists_only_the_workspace_s_people_and_ignores_a_stranger(client):
    page = client.get("/sandbox/w/T0GLOBEX01/C0GLOBGEN1/?as=U0ACME0002").content.decode()

    assert "Hank" in page and "Marge" in page
    assert "Grace" not in page and "Linus" not in page
    assert "as Hank" in page  # a stranger in the URL: the workspace's first person instead


def test_the_consent_page_lists_only_the_chosen_workspace_s_people(client):
    globex = client.get(consent_url() + "&team=T0GLOBEX01").content.decode()
    org = client.get(consent_url() + "&team=E0INITECH1").content.decode()
    people_list = re.compile(r'<select name="user"[^>]*>(.*?)</select>', re.S)

    assert re.findall(r">([^<]+)</option>", people_list.search(globex).group(1)) == ["Hank", "Marge"]
    assert re.findall(r">([^<]+)</option>", people_list.search(org).group(1)) == ["Peter (Initech East)", "Milton (Initech East)"]


def test_uninstall_revokes_tokens_and_tells_the_service(client, fake_service):
    host, received = fake_service
    token = install(client, user_scopes=["search:read"])["access_token"]

    page_form_post(client, "/sandbox/w/T0ACME0001/uninstall", host, **{"as": "U0ACME0001", "channel": "C0ACMEGEN1"})

    sent = [json.loads(body)["event"] for _, _, body, signed in received if signed]
    assert [event["type"] for event in sent] == ["app_uninstalled", "tokens_revoked"]
    assert sent[1]["tokens"] == {"oauth": ["U0ACME0001"], "bot": ["UB0ACME0001"]}
    assert call(client, "auth.test", token)["error"] == "invalid_auth"
    assert Workspace.objects.get(pk="T0ACME0001").app_bot_token() is None
    assert [d.what for d in Workspace.objects.get(pk="T0ACME0001").deliveries.order_by("id")] == [
        "app_uninstalled event", "tokens_revoked event"]


# --- Web API methods plugins call, with Slack's scopes ----------------------------------------

ALL_SCOPES = ("chat:write", "commands", "app_mentions:read", "reactions:write", "pins:write", "channels:read",
              "channels:history", "channels:write.topic", "im:write", "im:read", "users:read", "users:read.email",
              "team:read")


def web(client, scopes=ALL_SCOPES, **consent):
    """A slack_sdk WebClient on a bot token with `scopes`, talking to the sandbox through Django's test client."""
    token = install(client, scopes=scopes, **consent)["access_token"]
    return lambda method, **params: call_json(client, method, token, **params)


def call_json(client, method, token, **params):
    return client.post(f"/sandbox/api/{method}", json.dumps(params), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {token}").json()


def test_post_update_thread_and_delete_like_slack(client):
    api = web(client)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}},
              {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}, "value": "v"}]}]

    posted = api("chat.postMessage", channel="C0ACMEGEN1", text="hi", blocks=blocks)
    reply = api("chat.postMessage", channel="C0ACMEGEN1", text="in thread", thread_ts=posted["ts"])
    updated = api("chat.update", channel="C0ACMEGEN1", ts=posted["ts"], text="hello")
    deleted = api("chat.delete", channel="C0ACMEGEN1", ts=reply["ts"])

    assert posted["message"]["bot_id"] == "B0ACME0001" and posted["message"]["user"] == "UB0ACME0001"
    # Slack fills in block and action ids the app left out.
    assert all(block["block_id"] for block in posted["message"]["blocks"])
    assert posted["message"]["blocks"][1]["elements"][0]["action_id"]
    assert Message.objects.get(ts=reply["ts"]).thread_ts == posted["ts"]
    assert updated["message"]["text"] == "hello" and updated["message"]["edited"]["user"] == "UB0ACME0001"
    assert updated["message"]["blocks"] == posted["message"]["blocks"]  # kept: the update gave none
    assert deleted == {"ok": True, "channel": "C0ACMEGEN1", "ts": reply["ts"]}
    assert api("chat.delete", channel="C0ACMEGEN1", ts=reply["ts"])["error"] == "message_not_found"
    assert api("chat.postMessage", channel="C0GLOBGEN1", text="not my workspace")["error"] == "channel_not_found"
    assert api("chat.postMessage", channel="C0ACMEGEN1")["error"] == "no_text"
    assert api("chat.postMessage", channel="C0ACMEGEN1", blocks="not json")["error"] == "invalid_blocks"


def test_a_person_s_message_cannot_be_changed_by_the_bot(client):
    from sandbox import people

    people.post_message("http://127.0.0.1:9", "T0ACME0001", "U0ACME0002", "C0ACMEGEN1", "mine")
    ts = Message.objects.get(text="mine").ts
    api = web(client)

    assert api("chat.update", channel="C0ACMEGEN1", ts=ts, text="yours")["error"] == "cant_update_message"
    assert api("chat.delete", channel="C0ACMEGEN1", ts=ts)["error"] == "cant_delete_message"


def test_reactions_pins_and_topic(client):
    api = web(client)
    ts = api("chat.postMessage", channel="C0ACMEGEN1", text="hi")["ts"]

    assert api("reactions.add", channel="C0ACMEGEN1", timestamp=ts, name="thumbsup")["ok"]
    assert api("reactions.add", channel="C0ACMEGEN1", timestamp=ts, name="thumbsup")["error"] == "already_reacted"
    assert api("pins.add", channel="C0ACMEGEN1", timestamp=ts)["ok"]
    assert api("pins.add", channel="C0ACMEGEN1", timestamp=ts)["error"] == "already_pinned"
    topic = api("conversations.setTopic", channel="C0ACMEGEN1", topic="Release day")
    history = api("conversations.history", channel="C0ACMEGEN1")["messages"]

    assert topic["channel"]["topic"]["value"] == "Release day"
    assert history[0]["reactions"] == [{"name": "thumbsup", "users": ["UB0ACME0001"], "count": 1}]
    assert history[0]["pinned_to"] == ["C0ACMEGEN1"]
    assert api("reactions.remove", channel="C0ACMEGEN1", timestamp=ts, name="thumbsup")["ok"]
    assert api("reactions.remove", channel="C0ACMEGEN1", timestamp=ts, name="thumbsup")["error"] == "no_reaction"
    assert api("pins.remove", channel="C0ACMEGEN1", timestamp=ts)["ok"]
    assert api("pins.remove", channel="C0ACMEGEN1", timestamp=ts)["error"] == "no_pin"
    assert api("conversations.info", channel="C0ACMEGEN1")["channel"]["topic"]["value"] == "Release day"


@pytest.mark.parametrize("method, params, needed", [
    ("chat.postMessage", {"channel": "C0ACMEGEN1", "text": "hi"}, "chat:write"),
    ("reactions.add", {"channel": "C0ACMEGEN1", "timestamp": "1.0", "name": "x"}, "reactions:write"),
    ("pins.add", {"channel": "C0ACMEGEN1", "timestamp": "1.0"}, "pins:write"),
    ("conversations.setTopic", {"channel": "C0ACMEGEN1", "topic": "t"}, "channels:write.topic"),
    ("conversations.open", {"users": "U0ACME0002"}, "im:write"),
    ("conversations.info", {"channel": "C0ACMEGEN1"}, "channels:read"),
    ("conversations.list", {}, "channels:read"),
    ("conversations.members", {"channel": "C0ACMEGEN1"}, "channels:read"),
    ("users.list", {}, "users:read"),
    ("users.info", {"user": "U0ACME0002"}, "users:read"),
    ("users.lookupByEmail", {"email": "grace@acme.example"}, "users:read.email"),
    ("bots.info", {}, "users:read"),
    ("team.info", {}, "team:read"),
])
def test_a_method_without_its_scope_is_refused_as_slack_refuses_it(client, method, params, needed):
    api = web(client, scopes=("commands",))

    answer = api(method, **params)

    assert answer == {"ok": False, "error": "missing_scope", "needed": needed, "provided": "commands"}


@pytest.mark.django_db(transaction=True)
def test_slack_sdk_sees_missing_scope_with_needed_and_provided(client, live_server):
    from slack_sdk.errors import SlackApiError

    token = install(client, scopes=("chat:write",))["access_token"]
    web_client = WebClient(token=token, base_url=f"{live_server.url}/sandbox/api/")

    with pytest.raises(SlackApiError) as refused:
        web_client.reactions_add(channel="C0ACMEGEN1", timestamp="1.0", name="wave")

    assert refused.value.response["error"] == "missing_scope"
    assert refused.value.response["needed"] == "reactions:write"
    assert refused.value.response["provided"] == "chat:write"


def test_channels_topic_by_channels_manage_too(client):
    api = web(client, scopes=("channels:manage",))

    assert api("conversations.setTopic", channel="C0ACMEGEN1", topic="t")["ok"] is True


def test_dm_with_the_bot_opens_once_and_takes_messages(client):
    api = web(client)

    opened = api("conversations.open", users="U0ACME0002")
    again = api("conversations.open", users="U0ACME0002")
    by_user_id = api("chat.postMessage", channel="U0ACME0002", text="psst")

    assert opened["channel"]["id"] == again["channel"]["id"] == by_user_id["channel"] == "D0ACME0002"
    assert again["already_open"] is True and opened["already_open"] is False
    info = api("conversations.info", channel="D0ACME0002")["channel"]
    assert info["is_im"] is True and info["user"] == "U0ACME0002"
    assert api("conversations.open", users="U0GLOBEX01")["error"] == "user_not_found"


def test_lists_page_with_cursors(client):
    api = web(client)

    first = api("users.list", limit=2)
    second = api("users.list", limit=2, cursor=first["response_metadata"]["next_cursor"])
    channels = api("conversations.list", limit=1)
    rest = api("conversations.list", limit=1, cursor=channels["response_metadata"]["next_cursor"])
    members = api("conversations.members", channel="C0ACMEGEN1")["members"]

    assert [u["id"] for u in first["members"]] == ["U0ACME0001", "U0ACME0002"]
    assert [u["id"] for u in second["members"]] == ["U0ACME0003", "UB0ACME0001"]
    assert second["members"][1]["is_bot"] is True and second["response_metadata"]["next_cursor"] == ""
    assert [c["name"] for c in channels["channels"] + rest["channels"]] == ["general", "random"]
    assert rest["response_metadata"]["next_cursor"] == ""
    assert members == ["U0ACME0001", "U0ACME0002", "U0ACME0003", "UB0ACME0001"]
    assert api("users.list", cursor="!!nonsense")["error"] == "invalid_cursor"


def test_people_emails_need_users_read_email(client):
    with_email, without = web(client), web(client, scopes=("users:read",))

    found = with_email("users.lookupByEmail", email="grace@acme.example")["user"]

    assert found["id"] == "U0ACME0002" and found["profile"]["email"] == "grace@acme.example"
    assert with_email("users.info", user="U0ACME0001")["user"]["is_admin"] is True
    assert "email" not in without("users.info", user="U0ACME0002")["user"]["profile"]
    assert with_email("users.lookupByEmail", email="hank@globex.example")["error"] == "users_not_found"


def test_bot_team_and_auth_info(client):
    api = web(client)

    assert api("bots.info", bot="B0ACME0001")["bot"]["user_id"] == "UB0ACME0001"
    assert api("bots.info", bot="B0GLOBEX01")["error"] == "bot_not_found"
    assert api("team.info")["team"] == {**api("team.info")["team"], "id": "T0ACME0001", "name": "Acme Corp", "domain": "acme"}


def test_scheduled_messages_appear_when_due(client):
    api = web(client)
    soon = int(time.time()) + 60

    scheduled = api("chat.scheduleMessage", channel="C0ACMEGEN1", text="later", post_at=soon)
    listed = api("chat.scheduledMessages.list")["scheduled_messages"]
    before = api("conversations.history", channel="C0ACMEGEN1")["messages"]
    Message.objects.filter(scheduled_message_id=scheduled["scheduled_message_id"]).update(post_at=timezone.now())
    after = api("conversations.history", channel="C0ACMEGEN1")["messages"]

    assert scheduled["scheduled_message_id"].startswith("Q") and scheduled["post_at"] == soon
    assert [(m["id"], m["text"]) for m in listed] == [(scheduled["scheduled_message_id"], "later")]
    assert before == [] and [m["text"] for m in after] == ["later"]
    assert api("chat.scheduledMessages.list")["scheduled_messages"] == []
    assert api("chat.scheduleMessage", channel="C0ACMEGEN1", text="x", post_at=int(time.time()) - 5)["error"] == "time_in_past"


def test_a_scheduled_message_can_be_deleted_before_it_is_due(client):
    api = web(client)
    scheduled = api("chat.scheduleMessage", channel="C0ACMEGEN1", text="later", post_at=int(time.time()) + 60)

    deleted = api("chat.deleteScheduledMessage", channel="C0ACMEGEN1", scheduled_message_id=scheduled["scheduled_message_id"])

    assert deleted == {"ok": True}
    assert api("chat.scheduledMessages.list")["scheduled_messages"] == []
    assert api("chat.deleteScheduledMessage", channel="C0ACMEGEN1",
               scheduled_message_id=scheduled["scheduled_message_id"])["error"] == "invalid_scheduled_message_id"


# --- response_url ---------------------------------------------------------------------------


def test_a_command_s_response_url_posts_ephemeral_or_in_channel(client):
    install(client)
    url = urlparse(events.response_url_for("T0ACME0001", "C0ACMEGEN1", "U0ACME0002")).path

    client.post(url, json.dumps({"text": "just you"}), content_type="application/json")
    client.post(url, json.dumps({"text": "everyone", "response_type": "in_channel"}), content_type="application/json")

    just_you, everyone = Message.objects.order_by("id")
    assert (just_you.kind, just_you.ephemeral_user) == (Message.EPHEMERAL, "U0ACME0002")
    assert (everyone.kind, everyone.ephemeral_user, everyone.user) == (Message.MESSAGE, "", "UB0ACME0001")


def test_a_click_s_response_url_replaces_or_deletes_the_message(client):
    api = web(client)
    ts = api("chat.postMessage", channel="C0ACMEGEN1", text="pick one")["ts"]
    url = urlparse(events.response_url_for("T0ACME0001", "C0ACMEGEN1", "U0ACME0002", ts)).path

    replaced = client.post(url, json.dumps({"text": "picked", "replace_original": True}), content_type="application/json")
    text_after_replace = Message.objects.get(ts=ts).text
    client.post(url, json.dumps({"delete_original": "true"}), content_type="application/json")

    assert replaced.status_code == 200 and text_after_replace == "picked"
    assert Message.objects.get(ts=ts).is_deleted
    assert client.post(url, b"not json", content_type="application/json").status_code == 400


# --- Requests as Slack sends them, and the person driver ----------------------------------------


def test_builders_make_the_shapes_slack_sends():
    posted = events.message("T0ACME0001", "U0ACME0002", "D0ACME0002", "hi", channel_type="im", thread_ts="1.000001")
    changed = events.message_changed("T0ACME0001", "C0ACMEGEN1", {**posted, "text": "hi!"}, posted)
    own = events.bot_message("T0ACME0001", "B0ACME0001", "C0ACMEGEN1", "pong")
    legacy = events.bot_message("T0ACME0001", "B0ACME0001", "C0ACMEGEN1", "pong", legacy=True)
    form = parse_qs(events.block_actions_body(
        "T0ACME0001", "U0ACME0002", "C0ACMEGEN1", {"ts": "1.000002", "text": "x"},
        {"type": "button", "action_id": "go", "block_id": "b1", "value": "v"},
    ).decode())
    payload = json.loads(form["payload"][0])

    assert posted["channel_type"] == "im" and posted["thread_ts"] == "1.000001" and posted["ts"] == posted["event_ts"]
    assert changed["subtype"] == "message_changed" and changed["message"]["edited"] and changed["previous_message"] == posted
    assert own["bot_id"] == "B0ACME0001" and own["user"] == "UB0ACME0001" and "subtype" not in own
    assert legacy["subtype"] == "bot_message" and "user" not in legacy
    assert list(form) == ["payload"]
    assert payload["type"] == "block_actions" and payload["actions"][0]["action_id"] == "go"
    assert payload["actions"][0]["action_ts"] and payload["container"]["message_ts"] == "1.000002"
    assert payload["response_url"].endswith("/sandbox/hooks/T0ACME0001/C0ACMEGEN1/U0ACME0002/1.000002")


def test_a_person_s_mention_is_stored_and_sent_as_message_and_app_mention(client, fake_service):
    from sandbox import people

    host, received = fake_service
    install(client)

    status = people.post_message(f"http://{host}", "T0ACME0001", "U0ACME0002", "C0ACMEGEN1", "<@UB0ACME0001> hi")

    sent = [json.loads(body) for _, _, body, signed in received if signed]
    assert status == 200 and len(received) == 2
    assert [s["event"]["type"] for s in sent] == ["message", "app_mention"]
    assert sent[0]["event_id"] != sent[1]["event_id"] and sent[0]["event"]["ts"] == sent[1]["event"]["ts"]
    assert Message.objects.get(ts=sent[0]["event"]["ts"]).user == "U0ACME0002"


def test_a_person_s_dm_is_an_im_message_without_app_mention(client, fake_service):
    from sandbox import people

    host, received = fake_service
    install(client)

    people.post_message(f"http://{host}", "T0ACME0001", "U0ACME0002", "D0ACME0002", "<@UB0ACME0001> hi")

    (_, _, body, signed), = received
    assert signed and json.loads(body)["event"]["channel_type"] == "im"
    assert json.loads(body)["event"]["channel"] == "D0ACME0002"


def test_nothing_is_sent_where_the_app_is_not_installed(client, fake_service):
    from sandbox import people

    host, received = fake_service

    status = people.post_message(f"http://{host}", "T0GLOBEX01", "U0GLOBEX01", "C0GLOBGEN1", "hi")

    assert status is None and received == []
    assert Message.objects.get().text == "hi"  # the channel still shows it


def test_a_person_outside_the_workspace_is_refused(client):
    from sandbox import people

    with pytest.raises(people.PersonError, match="not a person of workspace"):
        people.post_message("http://127.0.0.1:9", "T0ACME0001", "U0GLOBEX01", "C0ACMEGEN1", "hi")
    assert not Message.objects.exists()


def test_a_command_goes_with_a_response_url_into_the_sandbox(client, fake_service):
    from sandbox import people

    host, received = fake_service
    install(client)

    people.run_command(f"http://{host}", "T0ACME0001", "U0ACME0003", "C0ACMERND1", "/hello", "there")

    (_, content_type, body, signed), = received
    form = parse_qs(body.decode())
    assert signed and form["command"] == ["/hello"] and form["text"] == ["there"]
    assert form["response_url"][0].endswith("/sandbox/hooks/T0ACME0001/C0ACMERND1/U0ACME0003")


def test_a_click_sends_block_actions_built_from_the_stored_message(client, fake_service):
    from sandbox import people

    host, received = fake_service
    api = web(client)
    blocks = [{"type": "actions", "block_id": "pick", "elements": [
        {"type": "button", "action_id": "yes", "text": {"type": "plain_text", "text": "Yes"}, "value": "y"},
        {"type": "static_select", "action_id": "size", "placeholder": {"type": "plain_text", "text": "Size"},
         "options": [{"text": {"type": "plain_text", "text": "S"}, "value": "s"},
                     {"text": {"type": "plain_text", "text": "L"}, "value": "l"}]}]}]
    ts = api("chat.postMessage", channel="C0ACMEGEN1", text="pick", blocks=blocks)["ts"]

    people.click(f"http://{host}", "T0ACME0001", "U0ACME0002", ts, "yes")
    people.click(f"http://{host}", "T0ACME0001", "U0ACME0002", ts, "size", value="l")

    clicks = [json.loads(parse_qs(body.decode())["payload"][0]) for _, _, body, _ in received]
    assert clicks[0]["actions"][0] | {"action_ts": ""} == {
        "type": "button", "action_id": "yes", "block_id": "pick", "text": {"type": "plain_text", "text": "Yes"},
        "value": "y", "action_ts": ""}
    assert clicks[0]["message"]["ts"] == ts and clicks[0]["user"]["id"] == "U0ACME0002"
    assert clicks[1]["actions"][0]["selected_option"]["value"] == "l"
    with pytest.raises(people.PersonError, match="No button"):
        people.click(f"http://{host}", "T0ACME0001", "U0ACME0002", ts, "nope")


# --- Never in production (issue 10) -------------------------------------------------------------


def test_a_production_migrate_creates_no_sandbox_table(tmp_path):
    import sqlite3

    from tests import workers

    database = tmp_path / "production.sqlite3"
    env = workers.production_env(DATABASE_URL=f"sqlite:///{database}")

    done = workers.manage("migrate", "--noinput", env=env)

    assert done.returncode == 0, done.stderr
    tables = [name for (name,) in sqlite3.connect(database).execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert "installations_installation" in tables  # the migrate did run
    assert not [name for name in tables if name.startswith("sandbox_")]
    assert "sandbox" not in done.stdout


# --- sandbox.testing: what plugin authors' tests use ----------------------------------------------

from sandbox.testing import slack_sandbox, slack_workspace  # noqa: E402,F401 (fixtures)


@pytest.mark.django_db(transaction=True)
def test_a_plugin_test_talks_to_the_app_in_a_made_up_workspace(slack_workspace, settings):
    settings.PLUGINS = ["plugins.builtin.general", "plugins.builtin.greeting"]

    pong = slack_workspace.say("ping")
    hello = slack_workspace.command("/hello")
    greeting = slack_workspace.say(slack_workspace.mention())
    in_dm = slack_workspace.dm("ping")

    assert [p.text for p in pong] == ["pong"] and pong[0].channel == slack_workspace.general
    assert hello[0].text.startswith("Hello, <@") and hello[0].ephemeral_user == slack_workspace.person.user_id
    assert "I'm here" in greeting[0].text
    assert in_dm[0].text == "pong" and in_dm[0].channel.startswith("D")
    assert slack_workspace.workspace.name == "Testing Co" and slack_workspace.team_id != "T0ACME0001"


@pytest.mark.django_db(transaction=True)
def test_a_plugin_test_clicks_a_button_and_sees_the_replaced_message(slack_workspace, settings):
    settings.PLUGINS = ["tests.plugin_examples"]
    token = Token.objects.get(workspace=slack_workspace.team_id, kind=Token.BOT, revoked=False).token
    blocks = [{"type": "actions", "block_id": "poll", "elements": [
        {"type": "button", "action_id": "vote-yes", "text": {"type": "plain_text", "text": "Yes"}, "value": "yes"}]}]
    posted = WebClient(token=token, base_url=f"{slack_workspace.service_url}/sandbox/api/").chat_postMessage(
        channel=slack_workspace.general, text="Vote", blocks=blocks)

    replies = slack_workspace.click(posted["ts"], "vote-yes")

    assert [(p.ts, p.text, p.blocks) for p in replies] == [(posted["ts"], "you voted yes", [])]


@pytest.mark.django_db(transaction=True)
def test_a_plugin_test_without_an_answer_fails_with_what_the_app_was_told(slack_workspace, settings):
    settings.PLUGINS = ["plugins.builtin.general"]

    with pytest.raises(AssertionError, match=r"posted 0 of 1 expected message\(s\).*message event"):
        slack_workspace.say("nobody answers this", timeout=1)


@pytest.mark.django_db(transaction=True)
def test_a_plugin_test_can_install_with_fewer_scopes(slack_sandbox):
    from sandbox.testing import SandboxWorkspace

    workspace = SandboxWorkspace.create(slack_sandbox).install(scopes=["chat:write", "commands"])

    assert workspace.workspace.app_bot_token().scopes == "chat:write,commands"


# --- mrkdwn as Slack shows it ------------------------------------------------------------------


@pytest.mark.parametrize("text, shown", [
    ("Hi <@U0ACME0002>!", 'Hi <span class="mention">@Grace</span>!'),
    ("see <#C0ACMERND1|random>", 'see <a class="channel-link" href="/sandbox/w/T0ACME0001/C0ACMERND1/">#random</a>'),
    ("<!here> *bold* _it_ ~no~", '<span class="mention">@here</span> <strong>bold</strong> <em>it</em> <del>no</del>'),
    ("`a *b*` and ```x\n<y>```", "<code>a *b*</code> and <pre class=\"code\">x\n&lt;y&gt;</pre>"),
    ("<https://example.com/?a=1&amp;b=2|docs>", '<a href="https://example.com/?a=1&amp;b=2" rel="noopener noreferrer">docs</a>'),
    (":wave: :no_such_emoji:", '<span class="emoji" role="img" aria-label="wave">👋</span> :no_such_emoji:'),
    ("a &lt;script&gt; &amp; snake_case_name", "a &lt;script&gt; &amp; snake_case_name"),
    ("> quoted\nplain", "<blockquote>quoted</blockquote><br>plain"),
    ("<javascript:alert(1)|x>", "javascript:alert(1)|x"),
])
def test_mrkdwn_renders_as_slack_does_and_escapes_the_rest(text, shown):
    from sandbox.render import Names, mrkdwn

    names = Names.of(Workspace.objects.get(pk="T0ACME0001"), "slackhub")

    assert str(mrkdwn(text, names)) == shown
