"""Start-up configuration errors, and the health endpoints operators and orchestrators poll."""

import os
import subprocess
import sys

import pytest
import requests

from tests import workers

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 60,
    "ALLOWED_HOSTS": "slackhub.example.com",
    "SLACK_CLIENT_ID": "123.456",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "TOKEN_ENCRYPTION_KEYS": "Jm3w3xQ3QbW8tHw7o7aJ1bq7xw8P0Qm2XKQyJ4m0n9Q=",
}


def start(env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEBUG", "SECRET_KEY", "TOKEN_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"], env={**clean, **env}, cwd=workers.ROOT, capture_output=True, text=True
    )


def test_production_settings_start():
    assert start(PRODUCTION).returncode == 0


@pytest.mark.parametrize("missing", ["SECRET_KEY", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"])
def test_a_missing_production_setting_is_a_clear_error_naming_it(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    done = start(env)

    assert done.returncode != 0
    assert f"Missing required settings for production (DEBUG is off): {missing}" in done.stderr


def test_the_sandbox_is_never_on_in_production():
    done = start({**PRODUCTION, "SLACK_SANDBOX": "1"})

    assert done.returncode != 0 and "SLACK_SANDBOX cannot be on" in done.stderr


@pytest.mark.django_db
def test_sandbox_is_on_by_default_only_in_development_without_a_client_id(client, settings):
    assert settings.SLACK_SANDBOX is True  # make test: DEBUG=1, no SLACK_CLIENT_ID
    assert client.get("/sandbox/").status_code == 200
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.SLACK_SANDBOX)"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "SLACK_CLIENT_ID": "123.456"},
        cwd=workers.ROOT, capture_output=True, text=True,
    )
    assert done.stdout.strip() == "False"


@pytest.mark.django_db
def test_healthz_and_readyz_when_all_is_well(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "needs_reinstall": 0}


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
    assert ready.json() == {"status": "unavailable", "failing": ["database", "redis"]}


def test_a_malformed_encryption_key_stops_start_up_naming_it():
    done = start({**PRODUCTION, "TOKEN_ENCRYPTION_KEYS": PRODUCTION["TOKEN_ENCRYPTION_KEYS"] + ",not-a-key"})

    assert done.returncode != 0 and "TOKEN_ENCRYPTION_KEYS: key 2 is not a Fernet key" in done.stderr
