"""Shared test steps: what several test modules do (install over HTTP, sign a request, wait for
an outcome). Fixtures stay in conftest.py."""

import html
import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

needs_redis = pytest.mark.skipif(not os.getenv("REDIS_URL"), reason="needs REDIS_URL (the PostgreSQL + Redis CI run)")



def wait_for(condition, timeout=10.0):
    """Poll until `condition()` is truthy (Bolt runs listeners after acking); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def settle(timeout=10.0):
    """Wait until every message on the broker's queues has been handled: after it, anything a request
    set off has happened (the observable moment a test asserts "nothing happened" at)."""
    import dramatiq

    broker = dramatiq.get_broker()
    from dramatiq.brokers.stub import StubBroker

    # The stub broker's join would raise for a message an earlier test dead-lettered: not ours.
    options = {"fail_fast": False} if isinstance(broker, StubBroker) else {}
    for queue in list(broker.get_declared_queues()):
        broker.join(queue, timeout=int(timeout * 1000), **options)


def install(browser, base_url, target="T0ACME0001", user="T0ACME0001:U0ACME0001", decision="allow"):
    """A person's install, over HTTP: the "Add to Slack" page, the sandbox's consent, the callback.

    Returns the response of `/slack/oauth_redirect` (the success or failure page).
    """
    page = browser.get(f"{base_url}/slack/install")
    assert page.status_code == 200, page.text
    href = re.search(r'id="add-to-slack" href="([^"]+)"', page.text).group(1)
    consent_url = urljoin(base_url, html.unescape(href))
    consent = browser.get(consent_url)
    assert consent.status_code == 200, consent.text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', consent.text).group(1)
    answer = browser.post(
        consent_url,
        data={"csrfmiddlewaretoken": csrf, "target": target, "user": user, "decision": decision},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    return browser.get(answer.headers["Location"], allow_redirects=False)


def mention(team_id="T0ACME0001", user_id="U0ACME0002", text=None):
    """An `app_mention` event in the sandbox workspace's #general, as Slack sends it ("@app hi" by default)."""
    from sandbox import events
    from sandbox.ids import bot_user_id

    text = f"<@{bot_user_id(team_id)}> hi" if text is None else text
    return events.event_callback_body(team_id, events.app_mention(team_id, user_id, "C0ACMEGEN1", text))


def cached_installations():
    """Every entry of the installation cache, as its backend stores it (this run's keys only)."""
    from django.core.cache import caches

    cache = caches[django_settings.INSTALLATION_CACHE_ALIAS]
    if hasattr(cache, "_cache") and isinstance(cache._cache, dict):  # LocMemCache
        return [value for key, value in cache._cache.items() if ":installations:" in key]
    client = cache._cache.get_client(write=False)  # RedisCache
    return [client.get(key) or b"" for key in client.scan_iter(f"{cache.key_prefix}:*:installations:*", count=1000)]


def signed_post(client, body, content_type="application/json", secret=None, timestamp=None):
    """POST a body to /slack/events through Django's test client, signed the way Slack signs."""
    from sandbox.events import sign

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = sign(raw, secret or django_settings.SLACK_SIGNING_SECRET, timestamp)
    return client.post(
        "/slack/events", data=raw, content_type=content_type, headers={k: v for k, v in headers.items()}
    )


def metric(text, name, **labels):
    """The value of sample `name` with (at least) `labels` in a Prometheus text exposition, summed
    over the samples that match; 0 when none does."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                total += sample.value
    return total


# --- installations as slack_sdk hands them to a store ---------------------------------------------

INSTALLED_AT = 1_763_000_000.123456


def an_installation(**overrides):
    values = dict(
        app_id="A0SANDBOX1",
        enterprise_id="E0001",
        enterprise_name="Initech Grid",
        enterprise_url="https://initech.enterprise.slack.com/",
        team_id="T0001",
        team_name="Acme Corp",
        bot_token="xoxb-bot-1",
        bot_id="B0001",
        bot_user_id="U0BOT",
        bot_scopes="chat:write,commands",
        bot_refresh_token="xoxe-1-bot-refresh",
        bot_token_expires_at=1_763_043_200,
        user_id="U0001",
        user_token="xoxp-user-1",
        user_scopes="search:read",
        user_refresh_token="xoxe-1-user-refresh",
        user_token_expires_at=1_763_043_201,
        incoming_webhook_url="https://hooks.slack.com/services/T0001/B0001/secret",
        incoming_webhook_channel="#general",
        incoming_webhook_channel_id="C0001",
        incoming_webhook_configuration_url="https://acme.slack.com/services/B0001",
        is_enterprise_install=False,
        token_type="bot",
        installed_at=INSTALLED_AT,
        custom_values={"plan": "pro", "seats": 12},
    )
    values.update(overrides)
    from slack_sdk.oauth.installation_store import Installation

    return Installation(**values)


# --- the browser tests (headless Chromium through Playwright; fixtures `chromium`, `page` in conftest) --

CHROMIUM = shutil.which("chromium") or next((p for p in ["/usr/bin/chromium"] if os.path.exists(p)), None)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium): no browser tests"
)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
# WCAG 2.1 A and AA (contrast, labels, names, lang) and axe's best practices (landmarks, headings).
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def assert_accessible(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()
