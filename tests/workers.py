"""Other processes for the multi-process tests: gunicorn servers and one-off store scripts, all on
the test database and on a cache shared with the test process (Redis, else a cache directory)."""

import os
import secrets
import subprocess
import sys
import tempfile

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from tests.processes import ROOT, Gunicorn


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
        # Each server handles its events on threads of its own (tests/test_background*.py start
        # worker and scheduler processes), and no scheduler fires during other tests.
        "TASKS_IN_PROCESS": "1",
        "RUN_SCHEDULER_IN_WEB": "0",
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
    prelude = "import django; django.setup()\nfrom installations.stores import installation_store\nstore = installation_store()\n"
    done = subprocess.run([sys.executable, "-c", prelude + code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


class Servers:
    """`count` gunicorn processes (1 gthread worker each) serving the app: the bench's launcher,
    with the logs in a temporary directory."""

    def __init__(self, count, env):
        log_dir = tempfile.mkdtemp(prefix="slackhub-test-gunicorn-")
        self.servers = []
        try:
            for number in range(count):
                self.servers.append(Gunicorn(f"app-{number}", env, ["-k", "gthread", "--threads", "8"], log_dir, 1))
        except BaseException:
            self.stop()
            raise
        self.urls = [server.url for server in self.servers]

    def stop(self):
        for server in self.servers:
            server.stop()


def production_env(**changes):
    """The environment of a production start (DEBUG off, every required setting given), with
    `changes` (None removes a setting); nothing of this test run's own settings leaks in."""
    inherited = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("SLACK_", "SANDBOX_", "DEBUG", "SECRET_KEY", "TOKEN_", "SECURE_", "SESSION_",
                                "CSRF_", "ALLOWED_HOSTS", "SILENCED_"))
    }
    env = {
        **inherited,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "slackhub.example.com",
        "SLACK_CLIENT_ID": "123.456",
        "SLACK_CLIENT_SECRET": secrets.token_hex(16),
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **changes,
    }
    return {name: value for name, value in env.items() if value is not None}


def manage(*args, env):
    """`python manage.py *args` in a process of its own."""
    return subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True)
