"""Other processes for the multi-process tests: gunicorn servers and one-off store scripts, all on
the test database and on a cache shared with the test process (Redis, else a cache directory)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url():
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def environment(slack_url, **extra):
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url(),
        "SLACK_API_URL": f"{slack_url}/sandbox/api/",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **extra,
    }
    if not settings.REDIS_URL:
        env["CACHE_DIR"] = settings.CACHES["default"]["LOCATION"]
    return env


def shared_cache(settings_fixture, tmp_path):
    """Make this process use the cache the other processes use."""
    if not settings.REDIS_URL:
        settings_fixture.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "cache")}
        }


def run_script(code, env):
    """Run Python `code` in a fresh process with Django set up; returns its stdout."""
    prelude = "import django; django.setup()\nfrom bolt_app.app import get_store\nstore = get_store()\n"
    done = subprocess.run([sys.executable, "-c", prelude + code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """`count` gunicorn processes (1 gthread worker each) serving the app."""

    def __init__(self, count, env):
        self.urls, self.processes = [], []
        for _ in range(count):
            port = free_port()
            self.urls.append(f"http://127.0.0.1:{port}")
            self.processes.append(
                subprocess.Popen(
                    [str(ROOT / ".venv/bin/gunicorn") if (ROOT / ".venv/bin/gunicorn").exists() else "gunicorn",
                     "config.wsgi", "-b", f"127.0.0.1:{port}", "-k", "gthread", "--threads", "8", "-w", "1", "--no-control-socket"],
                    env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )
            )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self):
        deadline = time.monotonic() + 30
        for url in self.urls:
            while True:
                try:
                    if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
