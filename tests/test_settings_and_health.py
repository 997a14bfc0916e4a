"""Start-up configuration errors, and the health endpoints operators and orchestrators poll."""

import os
import subprocess
import sys
from unittest import mock

import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bolt_app import health
from installations import models
from tests import workers

def start(**changes):
    return workers.manage("check", env=workers.production_env(**changes))


def test_production_settings_start():
    assert start().returncode == 0


@pytest.mark.parametrize("missing", ["SECRET_KEY", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"])
def test_a_missing_production_setting_is_a_clear_error_naming_it(missing):
    done = start(**{missing: None})

    assert done.returncode != 0
    assert f"Missing required settings for production (DEBUG is off): {missing}" in done.stderr


def test_the_sandbox_is_never_on_in_production():
    done = start(SLACK_SANDBOX="1")

    assert done.returncode != 0 and "SLACK_SANDBOX cannot be on" in done.stderr


@pytest.mark.django_db
def test_sandbox_is_on_by_default_only_in_development_without_a_client_id(client, settings):
    assert settings.SLACK_SANDBOX is True  # make test: DEBUG=1, no SLACK_CLIENT_ID
    assert client.get("/sandbox/", follow=True).status_code == 200
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.SLACK_SANDBOX)"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "SLACK_CLIENT_ID": "123.456"},
        cwd=workers.ROOT, capture_output=True, text=True,
    )
    assert done.stdout.strip() == "False"


@pytest.mark.django_db
def test_healthz_and_readyz_when_all_is_well(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def needs_reinstall(count):
    for number in range(count):
        models.Workspace.objects.create(client_id=settings.SLACK_CLIENT_ID, team_id=f"T0REINST{number:02}",
                                        status=models.Workspace.NEEDS_REINSTALL)


@pytest.mark.django_db
def test_readyz_shows_workspaces_needing_reinstall_only_to_staff_and_monitoring(client, admin_client, settings):
    settings.HEALTH_TOKEN = "monitoring-token-0123456789"
    needs_reinstall(2)

    anonymous = client.get("/readyz").json()
    wrong_token = client.get("/readyz", headers={"Authorization": "Bearer guess"}).json()
    monitoring = client.get("/readyz", headers={"Authorization": "Bearer monitoring-token-0123456789"}).json()
    staff = admin_client.get("/readyz").json()

    assert anonymous == wrong_token == {"status": "ok"}
    assert monitoring["needs_reinstall"] == staff["needs_reinstall"] == 2


@pytest.mark.django_db
def test_frequent_probes_cost_no_count(client, admin_client):
    needs_reinstall(1)

    with CaptureQueriesContext(connection) as anonymous:
        for _ in range(5):
            assert client.get("/readyz").status_code == 200
    with CaptureQueriesContext(connection) as staff:
        details = [admin_client.get("/readyz").json() for _ in range(5)]

    assert not [query for query in anonymous.captured_queries if "COUNT" in query["sql"].upper()]
    assert len(anonymous.captured_queries) == 5  # SELECT 1 each
    assert len([query for query in staff.captured_queries if "COUNT" in query["sql"].upper()]) == 1
    assert [detail["needs_reinstall"] for detail in details] == [1] * 5


@pytest.mark.django_db
def test_other_components_add_checks(client, admin_client):
    def broker():
        return "connection refused"

    with mock.patch.dict(health.CHECKS):
        health.register("broker", broker, critical=False)
        degraded = client.get("/readyz")
        details = admin_client.get("/readyz").json()
        health.register("broker", lambda: None, critical=False)
        back = client.get("/readyz")
        health.register("queue", lambda: 1 / 0)
        failing = client.get("/readyz")

    assert degraded.status_code == 200 and degraded.json() == {"status": "degraded", "degraded": ["broker"]}
    assert details["reasons"] == {"broker": "connection refused"}
    assert back.json() == {"status": "ok"}
    assert failing.status_code == 503 and failing.json() == {"status": "unavailable", "failing": ["queue"]}


def test_readyz_names_what_is_down():
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing",
           "REDIS_URL": "redis://127.0.0.1:1/0", "DJANGO_SETTINGS_MODULE": "config.settings"}
    servers = workers.Servers(1, env)
    try:
        url = servers.urls[0]
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
        ready = requests.get(f"{url}/readyz", timeout=10)
    finally:
        servers.stop()

    assert ready.status_code == 503
    # The broker (REDIS_URL too) is down as well: events would be handled in the web process.
    assert ready.json() == {"status": "unavailable", "failing": ["database", "redis"], "degraded": ["broker"]}


def test_a_malformed_encryption_key_stops_start_up_naming_it():
    done = start(TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode() + ",not-a-key")

    assert done.returncode != 0 and "TOKEN_ENCRYPTION_KEYS: key 2 is not a Fernet key" in done.stderr
