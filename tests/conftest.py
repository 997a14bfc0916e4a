"""Shared fixtures. Slack is the sandbox, served by pytest-django's live server over real HTTP."""

import os
from importlib import import_module

import pytest
import requests
from django.conf import settings as django_settings

from tests.processes import delete_keys


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
    django_settings.PLUGIN_STORAGE_REDIS_PREFIX = f"{prefix}-storage"
    django_settings.TASKS_IN_PROCESS = True
    if hasattr(dramatiq.get_broker(), "namespace"):
        dramatiq.get_broker().namespace = django_settings.DRAMATIQ_NAMESPACE
    yield
    if django_settings.REDIS_URL:  # this run's keys: cache, broker, plugin storage (all start with the prefix)
        from installations.redis_cache import redis_client

        delete_keys(redis_client(), f"{prefix}*")


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import caches

    cache = caches[django_settings.INSTALLATION_CACHE_ALIAS]
    if django_settings.REDIS_URL:
        delete_keys(cache._cache.get_client(write=True), f"{django_settings.CACHES['default']['KEY_PREFIX']}:*")
    else:
        cache.clear()
    yield


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium, for the module's browser tests."""
    from playwright.sync_api import sync_playwright

    from tests.helpers import CHROMIUM, CHROMIUM_ARGS

    # Playwright's sync API keeps an event loop running in this thread, so Django would refuse the
    # ORM calls the tests (and their fixtures) make between browser steps; none of them are async.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE")
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(chromium):
    """A page 1280 px wide; the test fails if the Content-Security-Policy blocked anything on it."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    # Chromium reports what the Content-Security-Policy blocked on the console: nothing may be.
    page.csp_violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and page.csp_violations.append(message.text))
    yield page
    context.close()
    assert page.csp_violations == []
