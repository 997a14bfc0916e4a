"""Prometheus metrics (issue 15): /metrics behind METRICS_TOKEN, what it counts, and one scrape
adding up every web worker."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker
from slack_sdk.errors import SlackApiError

from installations import models
from installations.metrics import QueueCollector
from installations.slack_api import web_client
from installations.stores import installation_store
from sandbox import events
from sandbox.models import Token
from tests.helpers import install, mention, metric, needs_redis, signed_post, wait_for
from tests.processes import self_signed_certificate

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-test-token"
ACME = "T0ACME0001"


@pytest.fixture
def scrape(client, settings):
    """Read /metrics as Prometheus does."""
    settings.METRICS_TOKEN = TOKEN

    def read():
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        return response.content.decode()

    return read


def growth(before, after):
    return lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)


# --- access ---------------------------------------------------------------------------------------


def test_metrics_is_not_found_without_a_token_and_refused_with_a_wrong_one(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404

    settings.METRICS_TOKEN = TOKEN
    for authorization in (None, "Bearer not-the-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer é"):
        response = client.get("/metrics", headers={"Authorization": authorization} if authorization else {})
        assert response.status_code == 401, authorization
        assert b"slackhub_" not in response.content
    right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and b"# TYPE slackhub_http_requests_total counter" in right.content


# --- what it counts -------------------------------------------------------------------------------


def test_an_install_events_a_refused_refresh_and_an_oauth_failure_are_counted(rotating, browser, client, scrape):
    before = scrape()

    assert install(browser, rotating).status_code == 200
    body = mention(text="hi there")  # a mention nobody's respond_to matches: the greeting plugin answers
    assert signed_post(client, body).status_code == 200
    assert signed_post(client, body).status_code == 200  # Slack's retry of it: acked, not handled again
    command = events.slash_command_body(ACME, "U0ACME0002", "C0ACMEGEN1", "/hello", "")
    assert signed_post(client, command, content_type="application/x-www-form-urlencoded").status_code == 200
    # An install callback opened without the install's cookie (another browser, a forged link).
    failed = requests.get(f"{rotating}/slack/oauth_redirect?state=made-up&code=whatever")
    assert failed.status_code == 400
    # Slack refuses the refresh token: the workspace needs a reinstall.
    Token.objects.filter(refresh_token__isnull=False).update(refresh_token_used=True)
    soon = timezone.now() + timedelta(minutes=1)
    models.Installation.objects.update(bot_token_expires_at=soon, user_token_expires_at=soon)
    models.Bot.objects.update(bot_token_expires_at=soon)
    installation_store().workspace_changed(None, ACME)
    call_command("refresh_tokens", "--within", "60")
    assert models.Workspace.objects.get().status == models.Workspace.NEEDS_REINSTALL

    # The plugins run after the ack: wait for their handlers and replies to be counted.
    def handled():
        text = scrape()
        grew = growth(before, text)
        ran = grew("slackhub_plugin_handler_runs_total", outcome="ok") >= 2  # the greeting and /hello
        replied = grew("slackhub_slack_api_calls_total", method="chat.postMessage", error="ok") >= 1
        dropped = grew("slackhub_slack_requests_total", type="app_mention", outcome="repeat") >= 1
        return text if ran and replied and dropped else None

    after = wait_for(handled)
    assert after, "the plugins' handler runs and replies were never counted"
    grew = growth(before, after)
    assert grew("slackhub_installation_events_total", kind="installed") == 1
    assert grew("slackhub_installation_events_total", kind="refresh_failed") == 1
    assert grew("slackhub_installation_events_total", kind="refreshed") == 0
    # The retry is queued too; the worker's claim drops it as a repeat.
    assert grew("slackhub_slack_requests_total", type="app_mention", outcome="queued") == 2
    assert grew("slackhub_slack_requests_total", type="app_mention", outcome="repeat") == 1
    assert grew("slackhub_slack_requests_total", type="command", outcome="queued") == 1
    assert grew("slackhub_oauth_failures_total", reason="invalid_browser") == 1
    assert grew("slackhub_slack_api_calls_total", method="oauth.v2.access", error="ok") == 1  # the install
    assert grew("slackhub_slack_api_calls_total", method="oauth.v2.access", error="invalid_refresh_token") >= 1
    assert grew("slackhub_http_requests_total", route="slack_events", method="POST", status="200") == 3
    assert grew("slackhub_http_request_duration_seconds_count", route="slack_events") == 3
    assert grew("slackhub_http_requests_total", route="slack_oauth_redirect", status="400") == 1
    assert grew("slackhub_authorize_cache_total", result="hit") >= 1
    assert grew("slackhub_authorize_cache_total", result="miss") >= 1
    assert grew("slackhub_plugin_handler_duration_seconds_count") >= 2
    # No label names a workspace, a person or a path someone typed.
    assert ACME not in after and "U0ACME" not in after and "made-up" not in after


def test_an_authorize_cache_outage_is_counted(rotating, browser, scrape, settings):
    from installations.cache import CacheableInstallationStore

    assert install(browser, rotating).status_code == 200
    before = scrape()
    # A store whose cache is a Redis nobody listens on.
    settings.CACHES = {**settings.CACHES, "down": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    settings.INSTALLATION_LOCAL_CACHE_SIZE = 0
    store = CacheableInstallationStore(client_id=settings.SLACK_CLIENT_ID, cache_alias="down")

    assert store.find_bot(enterprise_id=None, team_id=ACME) is not None  # the database answered

    assert growth(before, scrape())("slackhub_authorize_cache_total", result="outage") == 1


class _Slack(BaseHTTPRequestHandler):
    """A Slack Web API that rate-limits the first `limited` calls (HTTP 429, Retry-After: 1), and
    keeps connections open between calls as slack.com does."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.calls.append(time.monotonic())
        self.server.connections.add(self.client_address)
        limited = len(self.server.calls) <= self.server.limited
        body = b'{"ok": false, "error": "ratelimited"}' if limited else b'{"ok": true, "channel": "C1", "ts": "1.000001"}'
        self.send_response(429 if limited else 200)
        if limited:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.server.drop

    def log_message(self, *args):
        pass


@pytest.fixture
def rate_limiting_slack(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slack)
    server.calls, server.limited, server.connections, server.drop = [], 1, set(), False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SLACK_API_URL = f"http://127.0.0.1:{server.server_port}/api/"
    yield server
    server.shutdown()
    server.server_close()


def test_slack_rate_limits_are_waited_out_and_counted(rate_limiting_slack, scrape):
    before = scrape()

    posted = web_client("xoxb-test").chat_postMessage(channel="C1", text="hi")

    assert posted["ok"] and len(rate_limiting_slack.calls) == 2
    first, second = rate_limiting_slack.calls
    assert second - first >= 1  # Retry-After honoured
    grew = growth(before, scrape())
    assert grew("slackhub_slack_api_rate_limited_total", method="chat.postMessage") == 1
    assert grew("slackhub_slack_api_retry_after_seconds_total", method="chat.postMessage") >= 1
    assert grew("slackhub_slack_api_calls_total", method="chat.postMessage", error="ok") == 1

    rate_limiting_slack.calls.clear()
    rate_limiting_slack.limited = 5  # still limited after the one retry: the caller sees `ratelimited`
    with pytest.raises(SlackApiError):
        web_client("xoxb-test").chat_postMessage(channel="C1", text="hi")
    grew = growth(before, scrape())
    assert len(rate_limiting_slack.calls) == 2
    assert grew("slackhub_slack_api_rate_limited_total", method="chat.postMessage") == 3
    assert grew("slackhub_slack_api_calls_total", method="chat.postMessage", error="ratelimited") == 1


def test_slack_calls_reuse_their_connection(rate_limiting_slack):
    """Each reply would otherwise pay a new connection (and, to slack.com, a TLS handshake)."""
    rate_limiting_slack.limited = 0
    client = web_client("xoxb-test")

    answers = [client.chat_postMessage(channel="C1", text=f"hi {n}")["ok"] for n in range(3)]
    answers.append(web_client("xoxb-other").chat_postMessage(channel="C1", text="hi")["ok"])

    assert answers == [True] * 4 and len(rate_limiting_slack.calls) == 4
    assert len(rate_limiting_slack.connections) == 1


def test_a_connection_slack_closed_is_not_reused(rate_limiting_slack):
    rate_limiting_slack.limited, rate_limiting_slack.drop = 0, True  # closes each connection, unannounced
    client = web_client("xoxb-test")

    answers = [client.chat_postMessage(channel="C1", text=f"hi {n}")["ok"] for n in range(3)]

    assert answers == [True] * 3 and len(rate_limiting_slack.calls) == 3
    assert len(rate_limiting_slack.connections) == 3


def test_slack_calls_over_tls_verify_the_certificate_and_keep_the_connection(rate_limiting_slack, settings, tmp_path, monkeypatch):
    import ssl

    from installations import slack_http

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    self_signed_certificate(key, cert)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    rate_limiting_slack.limited = 0
    rate_limiting_slack.socket = served.wrap_socket(rate_limiting_slack.socket, server_side=True)
    settings.SLACK_API_URL = settings.SLACK_API_URL.replace("http://", "https://")

    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):  # not trusted: refused, nothing sent
        web_client("xoxb-test").chat_postMessage(channel="C1", text="hi")
    assert rate_limiting_slack.calls == []

    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setitem(slack_http._tls, "context", trusting)
    monkeypatch.setattr(slack_http._local, "connections", {})  # this thread's, made with the other context
    client = web_client("xoxb-test")
    answers = [client.chat_postMessage(channel="C1", text=f"hi {n}")["ok"] for n in range(2)]
    assert answers == [True, True] and len(rate_limiting_slack.connections) == 1


# --- the background queue -------------------------------------------------------------------------


def _queued(broker, count, age_seconds):
    broker.declare_queue("metrics-test")
    for _ in range(count):
        message = Message(queue_name="metrics-test", actor_name="nothing", args=(), kwargs={}, options={})
        broker.enqueue(message.copy(message_timestamp=int((time.time() - age_seconds) * 1000)))


def _collected(broker):
    return {(sample.name, sample.labels["queue"]): sample.value for family in QueueCollector(broker).collect()
            for sample in family.samples}


def test_the_queue_depth_and_its_oldest_message_age_are_read_at_scrape_time():
    broker = StubBroker()
    assert _collected(broker) == {}
    _queued(broker, 3, age_seconds=120)

    found = _collected(broker)

    assert found[("slackhub_queue_depth", "metrics-test")] == 3
    assert found[("slackhub_queue_oldest_message_age_seconds", "metrics-test")] >= 120
    assert found[("slackhub_queue_depth", "metrics-test.DQ")] == 0


@needs_redis
def test_the_queue_depth_and_age_are_read_from_redis(settings):
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=settings.BROKER_URL, namespace=f"{settings.DRAMATIQ_NAMESPACE}-metrics")
    try:
        _queued(broker, 2, age_seconds=300)
        found = _collected(broker)
        assert found[("slackhub_queue_depth", "metrics-test")] == 2
        assert found[("slackhub_queue_oldest_message_age_seconds", "metrics-test")] >= 300
    finally:
        broker.flush_all()
        broker.close()


# --- several web workers, one scrape ---------------------------------------------------------------


def test_two_web_workers_counts_add_up_in_one_scrape(tmp_path):
    from prometheus_client.multiprocess import MultiProcessCollector

    from tests.processes import Gunicorn
    from tests import workers

    directory = tmp_path / "metrics"
    env = workers.production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0",
        METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(directory), RUN_SCHEDULER_IN_WEB="0",
        REDIS_URL=None, BROKER_URL=None, CACHE_DIR=str(tmp_path / "cache"),
    )
    server = Gunicorn("metrics", env, ["-c", "config/gunicorn.py"], tmp_path, 2)

    def per_worker():
        """{pid: requests to an unknown page that worker counted}, from each worker's own file."""
        counts = {}
        for pid in server.workers():
            path = directory / f"counter_{pid}.db"
            if path.exists():
                counts[pid] = metric_in(MultiProcessCollector.merge([str(path)]), route="unmatched", status="404")
        return counts

    def metric_in(families, **labels):
        return sum(s.value for f in families for s in f.samples
                   if s.name == "slackhub_http_requests_total" and all(s.labels.get(k) == v for k, v in labels.items()))

    def unknown_page(_):
        return requests.get(f"{server.url}/no-such-page", headers={"Connection": "close"}, timeout=10).status_code

    try:
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            # Both workers must have served some: the kernel picks which worker accepts each connection.
            while sent < 2000 and len([n for n in per_worker().values() if n]) < 2:
                assert set(pool.map(unknown_page, range(40))) == {404}
                sent += 40
        counts = per_worker()
        assert len([n for n in counts.values() if n]) == 2, counts

        scraped = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    finally:
        server.stop()

    assert scraped.status_code == 200
    assert metric(scraped.text, "slackhub_http_requests_total", route="unmatched", status="404") == sent == sum(counts.values())
