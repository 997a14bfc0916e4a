"""The first minutes of a new user: one clear error for every missing setting, a taken port said
before anything starts, and a banner that only offers what is there."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args, **env):
    clean = {"PATH": os.environ["PATH"], **env}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_production_settings_name_every_missing_setting_at_once_without_a_traceback():
    result = run(["manage.py", "check"], DEBUG="0", TOKEN_ENCRYPTION_KEYS="not-a-key", LOG_FORMAT="xml")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"):
        assert name in result.stderr
    assert "key 1 is not a Fernet key" in result.stderr and "LOG_FORMAT" in result.stderr
    assert len(result.stderr.splitlines()) <= 6


def test_a_taken_port_is_said_before_starting_with_how_to_pick_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["-m", "config.preflight", str(port)], DEBUG="1")

    assert result.returncode == 1
    assert f"Port {port} is taken" in result.stderr and f"make run PORT={port + 1}" in result.stderr
    assert "starting" not in result.stdout


def test_the_banner_offers_the_sandbox_only_when_it_is_mounted():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with_sandbox = run(["-m", "config.preflight", str(port)], DEBUG="1")
    real_app = run(["-m", "config.preflight", str(port)], DEBUG="1", SLACK_CLIENT_ID="123.456")

    assert with_sandbox.returncode == 0 and "/sandbox/" in with_sandbox.stdout and "Ctrl+C" in with_sandbox.stdout
    assert real_app.returncode == 0 and "/slack/install" in real_app.stdout and "sandbox" not in real_app.stdout


def test_a_plugins_setting_that_names_nothing_stops_start_up_with_a_short_message():
    result = run(["-c", "import config.wsgi"], DEBUG="1", PLUGINS="plugins.builtin.general,myapp.not_there")

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "PLUGINS: no module or class 'myapp.not_there'" in result.stderr
