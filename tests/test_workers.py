"""Several processes, one truth: invalidations and token rotation seen across workers."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from installations.stores import installation_store
from installations.cache import CacheableInstallationStore
from installations import models
from sandbox import events
from sandbox.models import ApiCall, Message, Token
from tests import workers
from tests.helpers import install, mention, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def env(slack, settings, tmp_path):
    workers.shared_cache(settings, tmp_path)
    return workers.environment(slack)


def test_another_process_sees_this_ones_writes_and_the_other_way_round(slack, browser, env):
    assert install(browser, slack).status_code == 200
    store = installation_store()
    token = store.find_installation(enterprise_id=None, team_id="T0ACME0001").bot_token  # now cached

    # Another process warms its view, then deletes; this process must not serve its cached copy.
    seen = workers.run_script(
        "i = store.find_installation(enterprise_id=None, team_id='T0ACME0001'); print(i.bot_token)", env
    )
    assert seen == token
    workers.run_script("store.delete_all(enterprise_id=None, team_id='T0ACME0001')", env)
    assert store.find_installation(enterprise_id=None, team_id="T0ACME0001") is None

    # And this process's reinstall is seen by a fresh one that had the miss cached.
    assert workers.run_script("print(store.find_installation(enterprise_id=None, team_id='T0ACME0001'))", env) == "None"
    assert install(browser, slack).status_code == 200
    again = workers.run_script("print(store.find_installation(enterprise_id=None, team_id='T0ACME0001').bot_token)", env)
    assert again == models.Installation.objects.get().bot_token


def expire_soon(seconds=60):
    soon = timezone.now() + timedelta(seconds=seconds)
    models.Bot.objects.update(bot_token_expires_at=soon)
    models.Installation.objects.update(bot_token_expires_at=soon)
    installation_store().workspace_changed(None, "T0ACME0001")


def mention_body(user_id):
    return json.dumps(mention(user_id=user_id, text="<@UB0ACME0001> hi")).encode()


def post_event(url, body, secret):
    return events.send(f"{url}/slack/events", body, "application/json", secret)[0]


def refresh_calls():
    return ApiCall.objects.filter(method="oauth.v2.access", grant_type="refresh_token")


def test_twenty_concurrent_events_in_two_processes_refresh_once(slack, browser, env, settings):
    settings.SANDBOX_TOKEN_ROTATION = True
    assert install(browser, slack).status_code == 200
    old_token = models.Bot.objects.get().bot_token
    expire_soon()
    servers = workers.Servers(2, env)
    try:
        bodies = [(servers.urls[i % 2], mention_body(f"U0ACME000{1 + i % 3}")) for i in range(20)]
        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda job: post_event(*job, settings.SLACK_SIGNING_SECRET), bodies))
        assert statuses == [200] * 20
        assert wait_for(lambda: ApiCall.objects.filter(method="chat.postMessage", ok=True).count() == 20, timeout=30)
    finally:
        servers.stop()

    assert refresh_calls().count() == 1
    assert refresh_calls().get().ok
    assert not ApiCall.objects.filter(ok=False).exists()  # nobody used a spent refresh token
    bot = models.Bot.objects.get()
    assert bot.bot_token != old_token and bot.bot_token_expires_at > timezone.now() + timedelta(hours=2)
    assert Message.objects.count() == 20
    kinds = list(models.InstallationEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [models.InstallationEvent.INSTALLED, models.InstallationEvent.REFRESHED]


def test_a_refused_refresh_marks_the_workspace_and_stops_retrying(slack, browser, env, settings):
    settings.SANDBOX_TOKEN_ROTATION = True
    assert install(browser, slack).status_code == 200
    Token.objects.filter(refresh_token__isnull=False).update(refresh_token_used=True)  # Slack no longer honours it
    expire_soon()

    for user in ("U0ACME0001", "U0ACME0002", "U0ACME0003"):
        status = post_event(slack, mention_body(user), settings.SLACK_SIGNING_SECRET)
        assert status == 200

    # The token is still valid for a minute: events are still answered with it...
    assert wait_for(lambda: ApiCall.objects.filter(method="chat.postMessage", ok=True).count() == 3)
    # ...but Slack was asked to refresh once, not on every event.
    assert refresh_calls().count() == 1 and not refresh_calls().get().ok
    workspace = models.Workspace.objects.get()
    assert workspace.status == models.Workspace.NEEDS_REINSTALL
    assert "invalid_refresh_token" in workspace.status_reason
    assert workspace.events.filter(kind=models.InstallationEvent.REFRESH_FAILED).count() == 1

    # Later events neither ask Slack again nor empty the workspace's cache in every worker.
    with mock.patch.object(CacheableInstallationStore, "workspace_changed", autospec=True) as invalidate:
        assert post_event(slack, mention_body("U0ACME0002"), settings.SLACK_SIGNING_SECRET) == 200
        assert wait_for(lambda: ApiCall.objects.filter(method="chat.postMessage", ok=True).count() == 4)
    assert invalidate.call_count == 0 and refresh_calls().count() == 1

    # A reinstall makes it active again.
    assert install(browser, slack).status_code == 200
    workspace.refresh_from_db()
    assert workspace.status == models.Workspace.ACTIVE


def test_refresh_tokens_from_cron_on_two_hosts_at_once_refreshes_each_token_once(slack, browser, env, settings):
    import subprocess
    import sys

    settings.SANDBOX_TOKEN_ROTATION = True
    assert install(browser, slack).status_code == 200
    assert install(browser, slack, target="T0GLOBEX01", user="T0GLOBEX01:U0GLOBEX01").status_code == 200
    soon = timezone.now() + timedelta(minutes=5)
    models.Bot.objects.update(bot_token_expires_at=soon)

    command = [sys.executable, "manage.py", "refresh_tokens"]
    runs = [subprocess.Popen(command, env=env, cwd=workers.ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=60)[0] for run in runs]

    assert all(run.returncode == 0 for run in runs), outputs
    assert refresh_calls().count() == 2 and all(call.ok for call in refresh_calls())
    assert models.InstallationEvent.objects.filter(kind=models.InstallationEvent.REFRESHED).count() == 2
