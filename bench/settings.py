"""The benchmark's app server: production settings (DEBUG off) plus the two ceilings' endpoints and
per-worker counters (bench/instrument.py). The runner sets the environment; see bench/README.md."""

import os

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR, INSTALLED_APPS

ROOT_URLCONF = "bench.urls"
# The sandbox shares the bench's database (its server runs with SLACK_SANDBOX on): its tables are
# migrated with the app's, and the runner reads them. The app does not mount it (SLACK_SANDBOX off).
INSTALLED_APPS = [*INSTALLED_APPS, *(["sandbox"] if "sandbox" not in INSTALLED_APPS else []), "bench"]
# collectstatic's manifest, which production's static storage needs, stays under the bench's results.
STATIC_ROOT = BASE_DIR / "bench" / "results" / "staticfiles"

# Where each worker keeps its query and connection counters (unset: no instrumentation).
BENCH_STATS_DIR = os.getenv("BENCH_STATS_DIR", "")
# The bot token of the fixed-token ceiling (one installed workspace's).
BENCH_FIXED_TOKEN = os.getenv("BENCH_FIXED_TOKEN", "")
# The bench installs its workspaces from one address, faster than the install page lets a client.
INSTALL_PAGES_PER_CLIENT_PER_MINUTE = 1_000_000
