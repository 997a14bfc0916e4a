"""Bad input, at every endpoint: a clear 4xx, no stack trace, no secret, and nothing changed.

Tables of the cases people and Slack get wrong, then fuzzing (hypothesis) of each endpoint with a
few hundred more. Django's test client, in-process, with a quick stand-in for Slack's Web API.
"""

import json
import re
import threading
import time
from copy import deepcopy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import parse_qsl, urlencode

import pytest
from django.test import override_settings
from django.conf import settings as django_settings
from django.db import OperationalError
from django.http import QueryDict
from django.http.request import split_domain_port, validate_host
from django.test import Client
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from slack_bolt.request.internals import parse_body
from slack_sdk.oauth.installation_store import Installation

from installations import models
from sandbox import events
from sandbox.models import ApiCall, Message
from tests.helpers import install, settle, signed_post

pytestmark = [
    # Fuzzed user ids become cache keys: fine for Redis and locmem, which the warning is not about.
    pytest.mark.filterwarnings("ignore::django.core.cache.backends.base.CacheKeyWarning"),
]

INSTALLED_TEAM = "T0FUZZ0001"
FAKE_BOT_TOKEN = "xoxb-0000000000-fuzz-bot-token"
FAKE_USER_TOKEN = "xoxp-0000000000-fuzz-user-token"
FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def stored_rows():
    """What bad input must not change: everything we store (and, in live tests, the sandbox's record)."""
    return {
        model.__name__: model.objects.count()
        for model in (models.Workspace, models.Installation, models.Bot, models.InstallationEvent, ApiCall, Message)
    }


def rows():
    """...nor call Slack."""
    return {**stored_rows(), "calls to Slack": len(QuickSlack.calls)}


def assert_clean(response):
    """No 5xx, no stack trace and no secret in what the client sees."""
    assert response.status_code < 500, (response.status_code, response.content[:500])
    text = response.content.decode("utf-8", "replace") + str(response.headers)
    assert "Traceback" not in text and 'File "' not in text
    secrets = [
        django_settings.SLACK_CLIENT_SECRET,
        django_settings.SLACK_SIGNING_SECRET,
        django_settings.SECRET_KEY,
        *django_settings.TOKEN_ENCRYPTION_KEYS,
        FAKE_BOT_TOKEN,
        FAKE_USER_TOKEN,
    ]
    assert not [secret for secret in secrets if secret in text]


@pytest.fixture
def app_client():
    """A client that gets the 500 page a real client would, instead of the exception."""
    return Client(raise_request_exception=False)


class QuickSlack(BaseHTTPRequestHandler):
    """Slack's Web API, answering at once: every call succeeds, except that no OAuth code is valid.

    Listeners that call Slack finish at once, so none is left running (or retrying) after a test.
    """

    calls = []  # the methods called, by every test of the module

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        QuickSlack.calls.append(self.path.rsplit("/", 1)[-1])
        body = b'{"ok": false, "error": "invalid_code"}' if self.path.endswith("oauth.v2.access") else b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def quick_slack_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), QuickSlack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api/"
    server.shutdown()


@pytest.fixture
def quick_slack(settings, quick_slack_url):
    settings.SLACK_API_URL = quick_slack_url


@pytest.fixture
def installed(db, quick_slack):
    """A workspace installed in this test's transaction (the request thread sees it)."""
    return install_directly()


def install_directly():
    from installations.stores import installation_store

    installation_store().save(
        Installation(
            app_id="A0SANDBOX1", team_id=INSTALLED_TEAM, team_name="Fuzz", user_id="U0FUZZ0001",
            bot_token=FAKE_BOT_TOKEN, bot_id="B0FUZZ0001", bot_user_id="UB0FUZZ0001", bot_scopes="chat:write,commands",
            user_token=FAKE_USER_TOKEN, user_scopes="chat:write", installed_at=time.time(),
        )
    )
    return INSTALLED_TEAM


def mention(team_id=INSTALLED_TEAM):
    return events.event_callback_body(team_id, events.app_mention(team_id, "U0FUZZ0002", "C0FUZZ0001", "<@UB0FUZZ0001> hi"))


def post(client, body, content_type="application/json", headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/slack/events", data=raw, content_type=content_type, headers=headers or {})


# --- /slack/events: the table ----------------------------------------------------------------


def signature_headers(raw, **changes):
    """Slack's signature headers of `raw`, with `changes` made to them."""
    return {**events.sign(raw, django_settings.SLACK_SIGNING_SECRET), **changes}


UNSIGNED_CASES = {
    "no signature": lambda raw: {},
    "no timestamp": lambda raw: {"X-Slack-Signature": signature_headers(raw)["X-Slack-Signature"]},
    "malformed signature": lambda raw: signature_headers(raw, **{"X-Slack-Signature": "v0=not-hex"}),
    "signature of another body": lambda raw: signature_headers(raw + b" "),
    "signed with another secret": lambda raw: events.sign(raw, "not-the-signing-secret"),
    "timestamp 6 minutes old": lambda raw: events.sign(raw, django_settings.SLACK_SIGNING_SECRET, int(time.time()) - 360),
    "timestamp 6 minutes ahead": lambda raw: events.sign(raw, django_settings.SLACK_SIGNING_SECRET, int(time.time()) + 360),
    "timestamp not a number": lambda raw: signature_headers(raw, **{"X-Slack-Request-Timestamp": "yesterday"}),
    "timestamp in other digits": lambda raw: signature_headers(raw, **{"X-Slack-Request-Timestamp": "١٢٣"}),
    "signature not ascii": lambda raw: signature_headers(raw, **{"X-Slack-Signature": "v0=é"}),
}


@pytest.mark.parametrize("case", UNSIGNED_CASES)
def test_events_without_a_valid_signature_are_refused(installed, app_client, case):
    raw = json.dumps(mention()).encode()
    before = rows()

    response = post(app_client, raw, headers=UNSIGNED_CASES[case](raw))

    assert response.status_code == 401
    assert response.json() == {"error": "invalid request"}
    assert_clean(response)
    assert rows() == before


SIGNED_UNREADABLE = {
    "not JSON": (b"{not json", "application/json"),
    "a JSON array": (b"[1, 2]", "application/json"),
    "a JSON string": (b'"event_callback"', "application/json"),
    "JSON null": (b"null", "application/json"),
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "event not an object": (json.dumps({"type": "event_callback", "event": "app_mention"}).encode(), "application/json"),
    "event without a type": (json.dumps({"type": "event_callback", "team_id": INSTALLED_TEAM, "event": {}}).encode(), "application/json"),
    "authorizations not a list": (json.dumps({**mention(), "authorizations": "T0FUZZ0001"}).encode(), "application/json"),
    "interaction payload not JSON": (b"payload=%7Bnope", "application/x-www-form-urlencoded"),
    "interaction payload a list": (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
    "no actions in block_actions": (
        urlencode({"payload": json.dumps({"type": "block_actions", "team": {"id": INSTALLED_TEAM}, "user": {"id": "U1"}, "actions": []})}).encode(),
        "application/x-www-form-urlencoded",
    ),
    "a NUL in the team id": (json.dumps({**mention(), "team_id": f"{INSTALLED_TEAM}\x00"}).encode(), "application/json"),
    "a NUL in the user id": (json.dumps(mention()).replace("U0FUZZ0002", "U0FUZZ\\u0000").encode(), "application/json"),
    "a lone surrogate": (json.dumps({**mention(), "team_id": "\ud800"}).encode(), "application/json"),
    "a NUL in a command": (events.slash_command_body(INSTALLED_TEAM, "U\x00", "C0FUZZ0001", "/hello", ""), "application/x-www-form-urlencoded"),
    "view without a type": (
        urlencode({"payload": json.dumps({"type": "view_submission", "team": {"id": INSTALLED_TEAM}, "user": {"id": "U1"}, "view": {"callback_id": "x"}})}).encode(),
        "application/x-www-form-urlencoded",
    ),
}



def payload(**fields):
    """An interaction from the installed workspace, as Slack posts it (a form with one JSON field)."""
    base = {"team": {"id": INSTALLED_TEAM}, "user": {"id": "U0FUZZ0002"}, "api_app_id": "A0SANDBOX1", "trigger_id": "1.2"}
    return events.interaction_body({**base, **fields}), "application/x-www-form-urlencoded"


def event(event_fields, **envelope):
    body = {**events.event_callback_body(INSTALLED_TEAM, event_fields), **envelope}
    return json.dumps(body).encode(), "application/json"


MESSAGE = {"type": "message", "user": "U0FUZZ0002", "channel": "C0FUZZ0001", "text": "hi", "ts": "1.2"}
VIEW = {"id": "V1", "type": "modal", "callback_id": "c", "state": {"values": {}}}

# Signed, and of a kind plugins handle, but not of the shape Slack sends: each would be a 500 in
# Bolt's routing or a stack trace from a listener.
SIGNED_MISSHAPEN = {
    "block_actions: action without action_id": payload(type="block_actions", actions=[{"block_id": "b", "type": "button"}]),
    "block_actions: action not an object": payload(type="block_actions", actions=["a"]),
    "block_actions: user not an object": payload(type="block_actions", user="U1", actions=[{"action_id": "a"}]),
    "view_submission: callback_id a number": payload(type="view_submission", view={**VIEW, "callback_id": 5}),
    "view_closed: no view": payload(type="view_closed"),
    "view_closed: view without callback_id": payload(type="view_closed", view={"id": "V1", "type": "modal"}),
    "shortcut: no callback_id": payload(type="shortcut"),
    "message shortcut: message not an object": payload(type="message_action", callback_id="c", message="hi", channel={"id": "C1"}),
    "message shortcut: no channel": payload(type="message_action", callback_id="c", message={"ts": "1.2", "text": "hi"}),
    "block_suggestion: no value": payload(type="block_suggestion", action_id="a", block_id="b"),
    "slash command: user id a number": (json.dumps({"command": "/hello", "user_id": 5, "channel_id": "C1", "team_id": INSTALLED_TEAM}).encode(), "application/json"),
    "slash command: no channel": (json.dumps({"command": "/hello", "user_id": "U1", "team_id": INSTALLED_TEAM, "text": ""}).encode(), "application/json"),
    "message: text null": event({**MESSAGE, "text": None}),
    "message: text a number": event({**MESSAGE, "text": 5}),
    "message edit: message not an object": event({**MESSAGE, "subtype": "message_changed", "message": "hi", "previous_message": MESSAGE}),
    "message edit: previous text a list": event({**MESSAGE, "subtype": "message_changed", "message": MESSAGE, "previous_message": {**MESSAGE, "text": []}}),
    "bot message: bot_id an object": event({**MESSAGE, "bot_id": {"id": "B1"}, "subtype": "bot_message"}),
    "app_mention: no user": event({"type": "app_mention", "text": "hi", "channel": "C1", "ts": "1.2"}),
    "app_mention: text a list": event({"type": "app_mention", "user": "U1", "text": ["hi"], "channel": "C1", "ts": "1.2"}),
    "event_time not a number": event(events.app_uninstalled(), event_time="abc"),
    "event_time a boolean": event(events.app_uninstalled(), event_time=True),
    "event_id a number": event(events.app_uninstalled(), event_id=5),
    "tokens a list": event({**events.tokens_revoked(["U1"]), "tokens": ["U1"]}),
    "revoked user ids not a list": event({**events.tokens_revoked(), "tokens": {"oauth": "U1", "bot": []}}),
    "team id a number": event(MESSAGE, team_id=5, authorizations=[]),
    "enterprise id a list": event(MESSAGE, authorizations=[{"enterprise_id": ["E1"], "team_id": INSTALLED_TEAM}]),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", SIGNED_MISSHAPEN)
def test_signed_requests_of_the_wrong_shape_are_bad_requests(app_client, quick_slack, case, caplog):
    install_directly()  # committed: a listener wrongly run would see it on its own thread
    raw, content_type = SIGNED_MISSHAPEN[case]
    before = rows()

    response = signed_post(app_client, raw, content_type)

    assert response.status_code == 400
    assert response.json() == {"error": "unreadable request"}
    assert_clean(response)
    assert rows() == before
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("case", SIGNED_UNREADABLE)
def test_signed_events_bolt_cannot_read_are_bad_requests(installed, app_client, case):
    raw, content_type = SIGNED_UNREADABLE[case]
    before = rows()

    response = signed_post(app_client, raw, content_type)

    assert response.status_code == 400
    assert response.json() == {"error": "unreadable request"}
    assert_clean(response)
    assert rows() == before


def test_an_unsigned_body_is_never_parsed_and_a_signed_one_once(installed, app_client):
    """Bolt parses a body before checking its signature: an unsigned 1 MB form cost 270 ms of CPU."""
    form = b"payload=" + b"%7B%22a%22%3A1%7D&x=" * 40_000
    raw = json.dumps(mention()).encode()

    with mock.patch("slack_bolt.request.request.parse_body", wraps=parse_body) as parse:
        unsigned = post(app_client, form, "application/x-www-form-urlencoded", headers=signature_headers(b"other"))
        unsigned_calls = parse.call_count
        signed = signed_post(app_client, raw)

    assert unsigned.status_code == 401 and unsigned_calls == 0
    assert signed.status_code == 200 and parse.call_count == 1


def test_a_body_that_is_not_utf8_cannot_be_verified(installed, app_client):
    raw = b'{"type": "event_callback", "x": "\xff"}'

    response = signed_post(app_client, raw)

    assert response.status_code == 401
    assert_clean(response)


def test_a_body_over_the_size_limit_is_refused_before_bolt_sees_it(installed, app_client, settings):
    raw = json.dumps({**mention(), "padding": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}).encode()
    before = rows()

    with mock.patch("bolt_app.views.get_handler") as bolt:
        response = signed_post(app_client, raw)

    assert response.status_code == 413
    assert not bolt.called
    assert_clean(response)
    assert rows() == before


def test_a_content_length_that_is_not_a_number_is_a_bad_request(db, app_client):
    events_response = app_client.post("/slack/events", data=b"{}", content_type="application/json", CONTENT_LENGTH="abc")
    install_response = app_client.get("/slack/install", CONTENT_LENGTH="abc")

    assert [events_response.status_code, install_response.status_code] == [400, 400]


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_events_only_take_post(app_client, db, method):
    response = getattr(app_client, method)("/slack/events")

    assert response.status_code == 405
    assert_clean(response)


def test_an_event_type_no_plugin_processes_is_acked_and_changes_nothing(installed, app_client):
    body = events.event_callback_body(INSTALLED_TEAM, {"type": "brand_new_event", "whatever": [1, {"x": None}]})
    before = rows()

    response = signed_post(app_client, body)

    # Acked (a 404 would make Slack retry it): any plugin may @process any event type; none does.
    assert response.status_code == 200
    assert_clean(response)
    assert rows() == before


@pytest.mark.django_db(transaction=True)
def test_an_event_for_a_workspace_that_is_not_installed_changes_nothing(app_client, quick_slack):
    install_directly()  # committed: the uninstall and revocation events run on a worker thread
    before = rows()

    responses = [
        signed_post(app_client, mention(team_id="T0NOTINSTD")),
        signed_post(app_client, events.event_callback_body("T0NOTINSTD", events.app_uninstalled())),
        signed_post(app_client, events.event_callback_body("T0NOTINSTD", events.tokens_revoked(["U1"], ["UB1"]))),
    ]

    # Acked (Slack would retry anything else, and turn the subscription off), and nothing done.
    assert [response.status_code for response in responses] == [200, 200, 200]
    for response in responses:
        assert_clean(response)
    settle()  # whatever the requests set off has run
    assert rows() == before


def test_slacks_unsigned_ssl_check_is_answered(db, app_client):
    response = post(app_client, b"ssl_check=1&token=x", "application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert_clean(response)


# --- /slack/events: fuzzing ------------------------------------------------------------------

SLACK_KEYS = [
    "type", "token", "team_id", "api_app_id", "event", "event_id", "event_time", "authorizations", "enterprise_id",
    "is_enterprise_install", "user", "user_id", "team", "enterprise", "channel", "channel_id", "text", "ts", "bot_id",
    "subtype", "message", "previous_message", "tokens", "oauth", "bot", "view", "actions", "action_id", "block_id",
    "callback_id", "container", "command", "trigger_id", "payload", "ssl_check", "challenge", "id",
    "thread_ts", "state", "values", "function_data", "function_execution_id", "bot_access_token", "inputs", "workflow_step",
]
keys = st.sampled_from(SLACK_KEYS) | st.text(max_size=8)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(
    [INSTALLED_TEAM, "T0NOTINSTD", "app_mention", "event_callback", "block_actions", "view_submission", "message",
     "url_verification", "shortcut", "block_suggestion", "/hello", "1", "", "\x00", f"{INSTALLED_TEAM}\x00", "\ud800"]
)
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5), max_leaves=15
)
# What a WSGI server passes on as a header value: latin-1, no control characters.
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=80)
content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", ""]
)


def bodies_slack_sends():
    """Real shapes (events, a command, interactions) for the installed workspace, to mutate."""
    user = {"id": "U0FUZZ0002", "team_id": INSTALLED_TEAM}
    team = {"id": INSTALLED_TEAM, "domain": "fuzz"}
    message_event = {"type": "message", "user": "U0FUZZ0002", "channel": "C0FUZZ0001", "text": "hi", "ts": "1.2"}
    command = dict(parse_qsl(events.slash_command_body(INSTALLED_TEAM, "U0FUZZ0002", "C0FUZZ0001", "/hello", "").decode()))
    # Bolt posts its "please reinstall" to a command's response_url, Slack, unreachable here: an
    # outage (5xx is right), not bad input.
    del command["response_url"]
    return [
        ("json", mention()),
        ("json", events.event_callback_body(INSTALLED_TEAM, message_event)),
        ("json", {"type": "url_verification", "challenge": "c", "token": "t"}),
        ("form", command),
        ("payload", {"type": "block_actions", "team": team, "user": user, "api_app_id": "A0SANDBOX1",
                     "actions": [{"action_id": "a", "block_id": "b", "type": "button"}], "container": {"type": "message"},
                     "channel": {"id": "C0FUZZ0001"}, "message": {"ts": "1.2"}, "trigger_id": "1.2"}),
        ("payload", {"type": "view_submission", "team": team, "user": user, "api_app_id": "A0SANDBOX1",
                     "view": {"id": "V1", "type": "modal", "callback_id": "c", "state": {"values": {}}}}),
        ("payload", {"type": "shortcut", "team": team, "user": user, "callback_id": "c", "trigger_id": "1.2"}),
        ("payload", {"type": "block_suggestion", "team": team, "user": user, "action_id": "a", "block_id": "b", "value": "x"}),
    ]


def encode(kind, body):
    if kind == "json":
        return json.dumps(body).encode(), "application/json"
    if kind == "form":
        # surrogatepass: a lone surrogate goes out as the invalid UTF-8 a hostile client could send.
        fields = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        return urlencode(fields, errors="surrogatepass").encode(), "application/x-www-form-urlencoded"
    return urlencode({"payload": json.dumps(body)}).encode(), "application/x-www-form-urlencoded"


def mutated(body, path, value):
    """`body` with `value` put where `path` leads (keys into objects, indexes into lists, as far as it goes)."""
    body = deepcopy(body)
    parent, key, node = None, None, body
    for step in path:
        if isinstance(node, dict) and node:
            key = step if isinstance(step, str) else list(node)[step % len(node)]
            parent, node = node, node.get(key)
        elif isinstance(node, list) and node:
            key = step % len(node) if isinstance(step, int) else 0
            parent, node = node, node[key]
        else:
            break
    if parent is not None:
        parent[key] = value
    return body


@pytest.mark.parametrize("base", range(len(bodies_slack_sends())))
def test_what_slack_sends_reaches_bolt(installed, app_client, base):
    """The checks above refuse none of Slack's own shapes (Bolt answers 404 for those nobody handles)."""
    raw, content_type = encode(*bodies_slack_sends()[base])

    response = signed_post(app_client, raw, content_type)

    assert response.status_code in (200, 404)
    assert_clean(response)


@pytest.mark.django_db
@FUZZ
@given(body=st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()), content_type=content_types,
       signature=st.none() | header_values, timestamp=st.none() | header_values | st.integers().map(str))
def test_fuzz_unsigned_events_are_refused(app_client, body, content_type, signature, timestamp):
    assume(b"ssl_check" not in body)
    headers = {name: value for name, value in [("X-Slack-Signature", signature), ("X-Slack-Request-Timestamp", timestamp)] if value is not None}
    before = rows()

    response = post(app_client, body, content_type, headers)

    assert response.status_code == 401
    assert_clean(response)
    assert rows() == before


@FUZZ
@given(body=st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()) | json_values.map(
    lambda v: urlencode({"payload": json.dumps(v)}).encode()), content_type=content_types)
def test_fuzz_signed_bodies_of_any_shape(installed, app_client, body, content_type):
    before = stored_rows()  # listeners may call Slack, on their threads

    response = signed_post(app_client, body, content_type)

    assert_clean(response)
    assert stored_rows() == before


@FUZZ
@given(base=st.sampled_from(range(len(bodies_slack_sends()))),
       path=st.lists(keys | st.integers(min_value=0, max_value=5), min_size=1, max_size=3), value=json_values)
def test_fuzz_signed_slack_bodies_with_one_part_changed(installed, app_client, base, path, value):
    kind, body = bodies_slack_sends()[base]
    raw, content_type = encode(kind, mutated(body, path, value))
    before = stored_rows()  # listeners may call Slack, on their threads

    response = signed_post(app_client, raw, content_type)

    assert_clean(response)
    assert stored_rows() == before


# --- /slack/install and /slack/oauth_redirect ---------------------------------------------------


def start_install(client):
    """The state an install page issued (its cookie is now in `client`)."""
    page = client.get("/slack/install")
    assert page.status_code == 200
    return re.search(r"state=([A-Za-z0-9_-]+)", page.content.decode()).group(1)


@pytest.mark.django_db
def test_oauth_redirect_refuses_what_did_not_come_from_this_install(app_client, quick_slack):
    state = start_install(app_client)
    before = rows()
    other_browser = Client(raise_request_exception=False)

    cases = {
        "no state": app_client.get("/slack/oauth_redirect?code=abc"),
        "no code": app_client.get(f"/slack/oauth_redirect?state={state}x"),
        "unknown state": app_client.get("/slack/oauth_redirect?code=abc&state=unknown", headers={"Cookie": "slack-app-oauth-state=unknown"}),
        "state from another browser": other_browser.get(f"/slack/oauth_redirect?code=abc&state={state}"),
        "state from this browser, another install": app_client.get("/slack/oauth_redirect?code=abc&state=someone-elses"),
        "a NUL in the state": app_client.get("/slack/oauth_redirect?code=abc&state=%00", headers={"Cookie": "slack-app-oauth-state=\x00"}),
        "a body": app_client.generic("GET", f"/slack/oauth_redirect?code=abc&state={state}", data=b"\xff", content_type="text/plain"),
    }

    assert {case: response.status_code for case, response in cases.items()} == {
        "no state": 400, "no code": 400, "unknown state": 401, "state from another browser": 400,
        "state from this browser, another install": 400, "a NUL in the state": 400, "a body": 400,
    }
    assert "another browser" in cases["state from another browser"].content.decode()
    assert "expired or was already used" in cases["unknown state"].content.decode()
    for response in cases.values():
        assert_clean(response)
    assert rows() == before


@pytest.mark.django_db
def test_a_state_is_good_for_one_callback(app_client, quick_slack):
    state = start_install(app_client)

    first = app_client.get(f"/slack/oauth_redirect?code=abc&state={state}")  # Slack refuses the code: not installed
    second = app_client.get(f"/slack/oauth_redirect?code=abc&state={state}")

    assert first.status_code == 401 and "did not confirm the installation" in first.content.decode()
    assert second.status_code == 401 and "expired or was already used" in second.content.decode()
    assert not models.Installation.objects.exists()


@pytest.mark.django_db
def test_an_expired_state_is_refused(app_client, quick_slack, settings):
    settings.SLACK_STATE_EXPIRATION_SECONDS = 1
    state = start_install(app_client)
    time.sleep(2.1)

    response = app_client.get(f"/slack/oauth_redirect?code=abc&state={state}")

    assert response.status_code == 401 and "expired or was already used" in response.content.decode()
    assert_clean(response)


@pytest.mark.django_db
def test_access_denied_is_a_friendly_page_and_changes_nothing(app_client, quick_slack):
    state = start_install(app_client)
    before = rows()

    response = app_client.get(f"/slack/oauth_redirect?error=access_denied&state={state}")

    assert response.status_code == 200  # the person chose Cancel: not an error on their side
    assert "Installation cancelled" in response.content.decode()
    assert_clean(response)
    assert rows() == before


@pytest.mark.parametrize("method", ["post", "put", "delete"])
@pytest.mark.parametrize("path", ["/slack/install", "/slack/oauth_redirect"])
def test_oauth_pages_only_take_get(app_client, db, method, path):
    response = getattr(app_client, method)(path)

    assert response.status_code == 405
    assert_clean(response)


@pytest.mark.django_db(transaction=True)
def test_database_down_while_saving_an_install_is_a_friendly_503(slack, browser):
    with mock.patch("installations.stores.DjangoInstallationStore.save", side_effect=OperationalError("db is down")):
        done = install(browser, slack)

    # Not bad input: the person did everything right, and trying again later will work.
    assert done.status_code == 503
    assert "could not save the installation" in done.text
    assert "Traceback" not in done.text and "db is down" not in done.text
    assert not models.Installation.objects.exists()


@pytest.mark.django_db
@FUZZ
@given(params=st.dictionaries(st.sampled_from(["state", "code", "error", "redirect_uri", "team"]) | st.text(max_size=6),
                              st.text(max_size=80), max_size=4),
       cookie=st.none() | st.just("same") | header_values)
def test_fuzz_oauth_redirect(app_client, quick_slack, params, cookie):
    headers = {}
    if cookie == "same":  # as if this browser had started an install with that state
        state = params.get("state", "")
        assume(all(" " <= character <= "\xff" and character != "\x7f" for character in state))
        headers["Cookie"] = f"slack-app-oauth-state={state}"
    elif cookie is not None:
        headers["Cookie"] = cookie
    before = rows(), models.OAuthState.objects.count()

    response = app_client.get("/slack/oauth_redirect?" + urlencode(params), headers=headers)

    assert_clean(response)
    if "error" not in params:  # else Bolt shows the failure page with 200, as for Cancel
        assert response.status_code in (400, 401)
    assert (rows(), models.OAuthState.objects.count()) == before


@pytest.mark.django_db
@FUZZ
@given(query=st.text(st.characters(max_codepoint=255), max_size=100))  # WSGI gives latin-1
def test_fuzz_install_page(app_client, query):
    with override_settings(INSTALL_PAGES_PER_CLIENT_PER_MINUTE=10**6):  # one client, many pages
        response = app_client.get("/slack/install", QUERY_STRING=query)

    has_nul = any("\x00" in name + "".join(values) for name, values in QueryDict(query).lists())
    assert response.status_code == (400 if has_nul else 200)
    assert_clean(response)


# --- Hosts, admin, CSRF ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/slack/install", "/slack/events", "/admin/", "/healthz"])
def test_a_host_not_in_allowed_hosts_is_a_bad_request(app_client, db, path):
    response = app_client.get(path, headers={"Host": "evil.example.com"})

    assert response.status_code == 400
    assert_clean(response)


@pytest.mark.django_db
@FUZZ
@given(host=header_values)
def test_fuzz_host_header(app_client, host):
    domain, _ = split_domain_port(host)
    assume(not (domain and validate_host(domain, django_settings.ALLOWED_HOSTS)))
    before = rows()

    response = app_client.post("/slack/events", data=b"{}", content_type="application/json", headers={"Host": host})

    assert response.status_code == 400
    assert_clean(response)
    assert rows() == before


@pytest.mark.parametrize("path", [
    "/admin/", "/admin/installations/workspace/", "/admin/installations/installation/", "/admin/installations/bot/",
    "/admin/installations/installation/1/change/", "/admin/installations/workspace/export/",
])
def test_admin_without_login_redirects_to_login(app_client, installed, path):
    response = app_client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("action", ["uninstall", "refresh_tokens_now", "export_csv"])
def test_admin_actions_without_a_csrf_token_are_forbidden(installed, django_user_model, action):
    operator = django_user_model.objects.create_superuser("operator", "op@example.com", "pw")
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(operator)
    workspace = models.Workspace.objects.get()
    before = rows()

    response = browser.post("/admin/installations/workspace/", {"action": action, "_selected_action": [workspace.pk]})

    assert response.status_code == 403
    assert_clean(response)
    assert rows() == before


@pytest.mark.django_db
def test_admin_actions_without_login_change_nothing(app_client, installed):
    workspace = models.Workspace.objects.get()
    before = rows()

    response = app_client.post("/admin/installations/workspace/", {"action": "uninstall", "_selected_action": [workspace.pk]})

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert rows() == before


# --- Unexpected failures inside the views ----------------------------------------------------


def test_an_unexpected_error_in_events_is_a_bare_500(installed, app_client):
    with mock.patch("bolt_app.views.get_handler") as get_handler:
        get_handler.return_value.handle.side_effect = RuntimeError(f"unexpected, with {FAKE_BOT_TOKEN}")
        response = signed_post(app_client, mention())

    assert response.status_code == 500
    assert FAKE_BOT_TOKEN not in response.content.decode() and "RuntimeError" not in response.content.decode()
    assert_clean_500(response)


@pytest.mark.parametrize("path", ["/slack/install", "/slack/oauth_redirect?code=a&state=b"])
def test_an_unexpected_error_in_the_oauth_pages_is_a_bare_500(installed, app_client, path):
    with mock.patch("bolt_app.oauth.InstallFlow.handle_installation", side_effect=RuntimeError(FAKE_BOT_TOKEN)), \
            mock.patch("bolt_app.oauth.InstallFlow.handle_callback", side_effect=RuntimeError(FAKE_BOT_TOKEN)):
        response = app_client.get(path)

    assert response.status_code == 500
    assert_clean_500(response)


def assert_clean_500(response):
    text = response.content.decode()
    assert "Traceback" not in text and 'File "' not in text and "xox" not in text
    assert len(text) < 200, text  # Django's generic "Server Error (500)"
