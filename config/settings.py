"""slackhub settings, read from the environment.

Defaults make a bare laptop work (SQLite, in-process cache, the Slack sandbox, DEBUG on when
`make run` sets it). With DEBUG off these are production settings: every required setting must be
given, and a missing one stops start-up with an error naming it.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name, default="False"):
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name, default):
    return int(os.getenv(name, default))


def envlist(name, default=""):
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG")
PRODUCTION = not DEBUG

# Every missing or invalid setting, reported together at the end of this file (one short error,
# no traceback: manage.py and config/wsgi.py print it and exit).
_missing = []
_problems = []


def required(name, dev_default):
    """A setting production must be given; development falls back to `dev_default`."""
    value = os.getenv(name, "")
    if value:
        return value
    if PRODUCTION:
        _missing.append(name)
    return dev_default


SECRET_KEY = required("SECRET_KEY", "dev-only-insecure-secret-key-change-me")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
if PRODUCTION and not ALLOWED_HOSTS:
    _missing.append("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

# --- Slack app (Bolt's setting names) --------------------------------------------------------
SLACK_CLIENT_ID = os.getenv("SLACK_CLIENT_ID", "")
# The sandbox stands in for Slack: on by default in development when no real app is configured,
# never in production.
SLACK_SANDBOX = envbool("SLACK_SANDBOX", "False" if SLACK_CLIENT_ID or PRODUCTION else "True")
if SLACK_SANDBOX and PRODUCTION:
    _problems.append("SLACK_SANDBOX cannot be on with DEBUG off (production settings).")
if not SLACK_CLIENT_ID:
    SLACK_CLIENT_ID = required("SLACK_CLIENT_ID", "sandbox-client-id")
SLACK_CLIENT_SECRET = required("SLACK_CLIENT_SECRET", "sandbox-client-secret")
SLACK_SIGNING_SECRET = required("SLACK_SIGNING_SECRET", "sandbox-signing-secret")
# The bot scopes every install asks for, besides those the loaded plugins declare (plugins.scopes):
# plugins' helpers look up people and channels (users:read, channels:read).
SLACK_SCOPES = envlist("SLACK_SCOPES", "app_mentions:read,chat:write,commands,users:read,channels:read")
SLACK_USER_SCOPES = envlist("SLACK_USER_SCOPES")
SLACK_REDIRECT_URI = os.getenv("SLACK_REDIRECT_URI") or None
SLACK_API_URL = os.getenv("SLACK_API_URL", "https://slack.com/api/")
SLACK_AUTHORIZE_URL = os.getenv("SLACK_AUTHORIZE_URL", "https://slack.com/oauth/v2/authorize")
if SLACK_SANDBOX:
    # Relative to this service: the sandbox is mounted at /sandbox/ (see config/urls.py).
    SLACK_API_URL = os.getenv("SLACK_API_URL", f"http://127.0.0.1:{os.getenv('PORT', '8000')}/sandbox/api/")
    SLACK_AUTHORIZE_URL = os.getenv("SLACK_AUTHORIZE_URL", "/sandbox/oauth/v2/authorize")
SLACK_APP_NAME = os.getenv("SLACK_APP_NAME", "slackhub")
# Branding of the install pages: the app's icon (an https URL, shown 40x40; none: the name's initial)
# and where installers get help (a URL or mailto:; none: no help link).
SLACK_APP_ICON_URL = os.getenv("SLACK_APP_ICON_URL", "")
SUPPORT_URL = os.getenv("SUPPORT_URL", "")
SLACK_STATE_EXPIRATION_SECONDS = envint("SLACK_STATE_EXPIRATION_SECONDS", "600")
SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES = envint("SLACK_TOKEN_ROTATION_EXPIRATION_MINUTES", "120")
# The sandbox issues expiring tokens with refresh tokens, as Slack does with token rotation on.
SANDBOX_TOKEN_ROTATION = envbool("SANDBOX_TOKEN_ROTATION")
SANDBOX_TOKEN_EXPIRES_IN = envint("SANDBOX_TOKEN_EXPIRES_IN", "43200")

# --- Plugins (README "Writing a plugin") -------------------------------------------------------
# Dotted paths, comma-separated: a module loads every plugin class defined in it, a class itself.
PLUGINS = envlist(
    "PLUGINS",
    "plugins.builtin.greeting,plugins.builtin.general,plugins.builtin.help,plugins.builtin.notes,plugins.builtin.roles",
)
# Where `self.storage` keeps values: the database, or Redis when REDIS_URL is set.
PLUGIN_STORAGE_BACKEND = os.getenv(
    "PLUGIN_STORAGE_BACKEND",
    "plugins.storage.backends.redis.RedisStorage" if os.getenv("REDIS_URL") else "plugins.storage.backends.database.DatabaseStorage",
)
PLUGIN_STORAGE_REDIS_PREFIX = os.getenv("PLUGIN_STORAGE_REDIS_PREFIX", f"{os.getenv('CACHE_KEY_PREFIX', 'slackhub')}-storage")
# The service's public address, for links the app posts in Slack (the reinstall link).
SERVICE_URL = os.getenv("SERVICE_URL") or (
    SLACK_REDIRECT_URI.rsplit("/slack/", 1)[0] if SLACK_REDIRECT_URI else f"http://127.0.0.1:{os.getenv('PORT', '8000')}"
)

# --- Django ----------------------------------------------------------------------------------
INSTALLED_APPS = [
    "config.apps.ConsoleAdminConfig",  # Django's admin as the operator console
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "installations",
    "plugins",
    "bolt_app",
    "django_dramatiq",
    "background",
    # Slack's stand-in, in development only: a production database gets no sandbox table or row.
    *(["sandbox"] if SLACK_SANDBOX else []),
]

MIDDLEWARE = [
    "installations.logs.RequestLogContext",  # first: every line of the request carries its id
    "bolt_app.metrics_view.RequestMetrics",  # counts and times every request (installations/metrics.py)
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent connections with health checks: no new connection per event.
        conn_max_age=envint("DB_CONN_MAX_AGE", "600"),
        conn_health_checks=True,
    )
}
# Tests: one database per test run, so concurrent runs on one machine don't share it.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not shared-cache memory: Bolt's listener threads open their own connections.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"slackhub-test-{os.getpid()}.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}

REDIS_URL = os.getenv("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "installations.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.getenv("CACHE_KEY_PREFIX", "slackhub"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
elif os.getenv("CACHE_DIR"):
    # No Redis, several worker processes on one host: a shared directory keeps them coherent.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.getenv("CACHE_DIR"),
            "OPTIONS": {"MAX_ENTRIES": 100000},
        }
    }
else:
    # In-process: right for `make run` and one worker; see config/gunicorn.py.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }
# The cache alias the installation store uses (Redis in production: shared by every worker).
INSTALLATION_CACHE_ALIAS = "default"
INSTALLATION_CACHE_TTL = envint("INSTALLATION_CACHE_TTL", "600")
# Each process also keeps a decoded copy of what it read, served only under the workspace's current
# generation; with Redis, Redis's invalidation messages keep it right without a round trip
# (installations/local_cache.py): entries held (0 turns it off), and how often its connection is
# pinged (a silent connection empties the copy within two such periods).
INSTALLATION_LOCAL_CACHE_SIZE = envint("INSTALLATION_LOCAL_CACHE_SIZE", "5000")
INSTALLATION_LOCAL_CACHE_PING_SECONDS = envint("INSTALLATION_LOCAL_CACHE_PING_SECONDS", "3")

# --- Background work (Dramatiq; README "Processes and scaling out") ----------------------------
# The broker is a Redis that persists (AOF) and never evicts: its own instance in production
# (docker-compose.yml), BROKER_URL defaulting to REDIS_URL. Without either, Dramatiq's in-memory
# stub broker, with the worker and the scheduler inside the one serving process.
BROKER_URL = os.getenv("BROKER_URL") or REDIS_URL
# Prefix of every broker key (queues, claims, the scheduler's lock): deployments may share a Redis.
DRAMATIQ_NAMESPACE = os.getenv("DRAMATIQ_NAMESPACE") or f"{os.getenv('CACHE_KEY_PREFIX', 'slackhub')}-tasks"
# Whether a process that sends messages also consumes them on threads of its own: always with the
# stub broker (nothing else could), and in `manage.py runall` (make run).
TASKS_IN_PROCESS = envbool("TASKS_IN_PROCESS", "False" if BROKER_URL else "True")
TASKS_IN_PROCESS_THREADS = envint("TASKS_IN_PROCESS_THREADS", "4")
# How long an idle worker waits at most between two looks at the broker: the longest delay a reply
# adds after a quiet spell (Dramatiq's default is 1000 ms; the Procfile's workers read the same value
# through Dramatiq's own `dramatiq_worker_timeout` variable).
TASKS_POLL_MS = envint("TASKS_POLL_MS", "100")
# Without a broker, the one gunicorn process also runs the scheduler (config/gunicorn.py).
RUN_SCHEDULER_IN_WEB = envbool("RUN_SCHEDULER_IN_WEB", "False" if BROKER_URL else "True")
# With the broker down, events are handled in the web process on this many threads, with at most
# TASKS_FALLBACK_BACKLOG waiting (past that, in the request itself: slower acks, nothing dropped).
TASKS_FALLBACK_THREADS = envint("TASKS_FALLBACK_THREADS", "8")
TASKS_FALLBACK_BACKLOG = envint("TASKS_FALLBACK_BACKLOG", "200")
# How far a worker process lowers its CPU priority (`nice`; 0: not at all), so acks win on shared cores.
TASKS_WORKER_NICE = envint("TASKS_WORKER_NICE", "10")
# How long a claim on an event (one processing per event, across redeliveries) is kept.
TASKS_CLAIM_SECONDS = envint("TASKS_CLAIM_SECONDS", "3600")
_dramatiq_middleware = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "dramatiq.middleware.CurrentMessage",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    # Failures and schedule runs in the admin; never a query for a message that succeeds.
    "background.middleware.Bookkeeping",
    "background.middleware.InProcessWorker",
    "background.middleware.LoadPlugins",
    "background.middleware.BelowTheWeb",
    "installations.metrics.WorkerProcesses",  # worker processes count where /metrics reads
]
if BROKER_URL:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {
            # A broker that is down fails a send at once (the web process then does the work).
            "url": f"{BROKER_URL}{'&' if '?' in BROKER_URL else '?'}socket_connect_timeout=1&socket_timeout=5",
            "namespace": DRAMATIQ_NAMESPACE,
            # A worker silent this long is dead: what it held goes back to the queue. Workers beat
            # about once a second; maintenance (which requeues) runs on this share of a million calls.
            "heartbeat_timeout": envint("BROKER_HEARTBEAT_TIMEOUT_SECONDS", "20") * 1000,
            "maintenance_chance": envint("BROKER_MAINTENANCE_CHANCE", "200000"),
        },
        "MIDDLEWARE": _dramatiq_middleware,
    }
else:
    DRAMATIQ_BROKER = {"BROKER": "dramatiq.brokers.stub.StubBroker", "OPTIONS": {}, "MIDDLEWARE": _dramatiq_middleware}
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]
# The scheduler's lock (dramatiq-crontab's settings): held by one scheduler, extended every 5 s; a
# standby takes over within LOCK_TIMEOUT seconds of the holder's death.
DRAMATIQ_CRONTAB = {"REDIS_URL": BROKER_URL or None, "LOCK_REFRESH_INTERVAL": 5, "LOCK_TIMEOUT": 15, "LOCK_BLOCKING_TIMEOUT": 5}
# The service's own jobs (crontab lines, in TIME_ZONE): tokens of quiet workspaces refreshed before
# they expire (bolt-python #1084), expired OAuth states and plugin storage purged.
SCHEDULE_REFRESH_TOKENS = os.getenv("SCHEDULE_REFRESH_TOKENS", "*/10 * * * *")
SCHEDULE_PURGES = os.getenv("SCHEDULE_PURGES", "17 * * * *")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.getenv("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date format on every page, the admin's included (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Behind a TLS-terminating proxy ----------------------------------------------------------
# Production defaults assume a proxy that terminates TLS and sets X-Forwarded-Proto (`manage.py
# check --deploy` is clean with them). Serving production settings over plain http (a local trial,
# the bench) needs SECURE_SSL_REDIRECT=0.
if envbool("SECURE_PROXY_SSL_HEADER", "False" if DEBUG else "True"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "False" if DEBUG else "True")
# Orchestrators' probes reach the process directly, over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "False" if DEBUG else "True")
# Only a submission at hstspreload.org puts a domain on browsers' preload lists.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "False" if DEBUG else "True")
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "False" if DEBUG else "True")
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", "False" if DEBUG else "True")
SILENCED_SYSTEM_CHECKS = envlist("SILENCED_SYSTEM_CHECKS")
# Slack retries an event it did not get a 3 s answer for; bodies past this are refused (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(1024 * 1024))
# Each anonymous install page issues an OAuth state: at most this many per client address a minute.
INSTALL_PAGES_PER_CLIENT_PER_MINUTE = envint("INSTALL_PAGES_PER_CLIENT_PER_MINUTE", "30")
# Admin log-in throttle (config/console.py): this many failures for one username from one
# address within the window, and that pair is refused until the window ends.
ADMIN_LOGIN_MAX_FAILURES = envint("ADMIN_LOGIN_MAX_FAILURES", "5")
ADMIN_LOGIN_WINDOW_SECONDS = envint("ADMIN_LOGIN_WINDOW_SECONDS", "900")

# Content-Security-Policy on every response (config/middleware.py). Images may come from https for
# the app's icon (SLACK_APP_ICON_URL); scripts, styles and form posts only from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

# Monitoring that sends `Authorization: Bearer <HEALTH_TOKEN>` sees /readyz's details (staff do too).
HEALTH_TOKEN = os.getenv("HEALTH_TOKEN", "")
# Prometheus scrapes /metrics with `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics is a 404.
# With it, config/gunicorn.py has every web worker count into PROMETHEUS_MULTIPROC_DIR (a fresh
# temporary directory unless given); give Dramatiq workers on the same host the same directory.
METRICS_TOKEN = os.getenv("METRICS_TOKEN", "")
LOG_LEVEL = os.getenv("LOG_LEVEL", "INFO")
# "plain" lines for people, or "json": one object per line with the request id, the workspace and,
# for Slack's endpoints, one line per request with its outcome (installations/logs.py).
LOG_FORMAT = os.getenv("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    _problems.append(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
    LOG_FORMAT = "plain"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # On every handler: tokens, OAuth codes, webhook URLs and secrets never reach a log line, whoever
    # logs them, and no input starts a line of its own.
    "filters": {"redact_secrets": {"()": "installations.redaction.RedactSecrets"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "installations.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default handlers for these would bypass the filter: theirs go to ours instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # A line per Slack request: in JSON, for log pipelines; people have the server's access log.
        "slackhub.requests": {"level": "INFO" if LOG_FORMAT == "json" else "WARNING"},
    },
}

# --- Tokens at rest ---------------------------------------------------------------------------
# Fernet keys, comma-separated: the first encrypts, all decrypt (rotate with
# `manage.py rotate_token_encryption`). Development derives one from SECRET_KEY.
TOKEN_ENCRYPTION_KEYS = envlist("TOKEN_ENCRYPTION_KEYS")
if not TOKEN_ENCRYPTION_KEYS and PRODUCTION:
    _missing.append("TOKEN_ENCRYPTION_KEYS")
    _problems.append(
        'TOKEN_ENCRYPTION_KEYS: generate a key with: python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"'
    )
elif not TOKEN_ENCRYPTION_KEYS:
    import base64
    import hashlib

    TOKEN_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(b"slackhub-tokens:" + SECRET_KEY.encode()).digest()).decode()
    ]
for _position, _key in enumerate(TOKEN_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key.encode())
    except ValueError:
        # Caught here rather than as a 500 on the first token read.
        _problems.append(f"TOKEN_ENCRYPTION_KEYS: key {_position} is not a Fernet key (32 url-safe base64-encoded bytes).")

if _missing or _problems:
    raise ImproperlyConfigured("\n".join(
        ([f"Missing required settings for production (DEBUG is off): {', '.join(_missing)}."] if _missing else [])
        + _problems
        + ["Set them in the environment (README \"Configuration\"), or set DEBUG=1 for local development."]
    ))
