"""Shared fixtures. Slack is the sandbox, served by pytest-django's live server over real HTTP."""

import html
import json
import os
import re
import time
from importlib import import_module
from urllib.parse import urljoin

import pytest
import requests
from django.conf import settings as django_settings


@pytest.fixture
def sandbox_seed(db):
    """The sandbox's workspaces and people (transactional tests flush the migration's seed)."""
    from django.apps import apps

    if not apps.get_model("sandbox", "Workspace").objects.exists():
        import_module("sandbox.migrations.0002_seed").seed(apps, None)
        import_module("sandbox.migrations.0003_slack_features").seed(apps, None)


@pytest.fixture
def support_group(db):
    """The migration's read-only "support" group (transactional tests flush it, like the seed)."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name="support").exists():
        import_module("installations.migrations.0002_support_group").create_support_group(apps, None)
        import_module("plugins.migrations.0002_support_views_plugin_data").allow_support(apps, None)
    return Group.objects.get(name="support")


@pytest.fixture
def slack(live_server, settings, sandbox_seed):
    """Point the app at the sandbox on the live server, like `make run` does; returns the base URL."""
    settings.SLACK_API_URL = f"{live_server.url}/sandbox/api/"
    settings.SLACK_AUTHORIZE_URL = "/sandbox/oauth/v2/authorize"
    return live_server.url


needs_redis = pytest.mark.skipif(not os.getenv("REDIS_URL"), reason="needs REDIS_URL (the PostgreSQL + Redis CI run)")


@pytest.fixture
def rotating(slack, settings):
    """The sandbox issues rotating (expiring) tokens, and installs ask for a user scope too."""
    settings.SANDBOX_TOKEN_ROTATION = True
    settings.SLACK_USER_SCOPES = ["search:read"]
    return slack


@pytest.fixture
def browser():
    """A requests session: cookies kept, redirects followed by hand where the test looks at them."""
    with requests.Session() as session:
        yield session


def wait_for(condition, timeout=10.0):
    """Poll until `condition()` is truthy (Bolt runs listeners after acking); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture(autouse=True, scope="session")
def _isolated_test_run():
    """Bolt's pooled listener threads would otherwise keep connections to the test database open
    (CONN_MAX_AGE), and PostgreSQL refuses to drop a database in use at the end of the run.
    Each run gets its own cache key prefix (passed on to the processes tests start), so runs
    sharing one Redis don't clear each other's entries."""
    django_settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    prefix = f"slackhub-test-{os.getpid()}"
    django_settings.CACHES["default"]["KEY_PREFIX"] = os.environ["CACHE_KEY_PREFIX"] = prefix
    # Background work: this run's own broker keys (processes started by tests derive the same from
    # CACHE_KEY_PREFIX), consumed by worker threads of this process.
    import dramatiq

    django_settings.DRAMATIQ_NAMESPACE = f"{prefix}-tasks"
    django_settings.TASKS_IN_PROCESS = True
    if hasattr(dramatiq.get_broker(), "namespace"):
        dramatiq.get_broker().namespace = django_settings.DRAMATIQ_NAMESPACE


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import caches

    cache = caches[django_settings.INSTALLATION_CACHE_ALIAS]
    if django_settings.REDIS_URL:
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(f"{django_settings.CACHES['default']['KEY_PREFIX']}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
    yield


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
    return [client.get(key) or b"" for key in client.scan_iter(f"{cache.key_prefix}:*:installations:*")]


def signed_post(client, body, content_type="application/json", secret=None, timestamp=None):
    """POST a body to /slack/events through Django's test client, signed the way Slack signs."""
    from sandbox.events import sign

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = sign(raw, secret or django_settings.SLACK_SIGNING_SECRET, timestamp)
    return client.post(
        "/slack/events", data=raw, content_type=content_type, headers={k: v for k, v in headers.items()}
    )
