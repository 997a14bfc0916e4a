"""slackhub's benchmark: `make bench`, or `.venv/bin/python bench/run.py --help`. See bench/README.md.

1. A fresh bench database: bench/results/bench.sqlite3, or with a PostgreSQL DATABASE_URL the
   database `--database-name` on that server (dropped and created again).
2. The sandbox (Slack's stand-in, gunicorn, DEBUG=1), bench/slack_proxy.py in front of its Web API,
   and the app: gunicorn with config/gunicorn.py and production settings (DEBUG=0) plus
   bench/settings.py (the two ceilings' endpoints, per-worker counters).
3. `--workspaces` workspaces created in the sandbox and installed through the real OAuth flow.
4. Warm-up: one event from every person of every workspace (the installation cache is then warm).
5. `--rounds` x `--seconds` of signed `app_mention` events against a bare Django view, the same
   listener on a fixed-token Bolt App, and the app itself, in alternating order.
6. Steady state: `--steady-seconds` per target of the app and the fixed-token ceiling, in alternating
   rounds of `--steady-round-seconds`, minutes after the warm-up (the installation cache's entries are
   then older than any re-read period, and must still be served without SQL or Redis reads).
7. RSS points: for each count in `--rss-points`, installations bulk-inserted up to that count, the
   app restarted, and `--rss-events` events spread over all of them (a cold cache: SQL is expected).

Prints the tables and writes them, with every figure, to bench/results/<time>-<database>.{md,json}.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ids, instrument  # noqa: E402
from tests.processes import Gunicorn, Worker, cpu_seconds, delete_keys, free_port, http  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SIGNING_SECRET = "bench-signing-secret"
TARGET_RATIO = 0.85
STEADY_TARGET_RATIO = 0.95


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    redis = bool(os.getenv("REDIS_URL"))
    parser.add_argument("--workspaces", type=int, default=1000, help="installed over OAuth (default 1000)")
    parser.add_argument("--users", type=int, default=ids.USERS_PER_WORKSPACE, help="people per workspace sending events")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured run (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per target, in alternating order (default 2)")
    parser.add_argument("--concurrency", type=int, default=16, help="load generator connections (default 16)")
    parser.add_argument(
        "--steady-seconds", type=float, default=180,
        help="steady state: seconds of load per target, the app against the fixed-token ceiling (default 180; 0: none)",
    )
    parser.add_argument(
        "--steady-round-seconds", type=float, default=30, help="steady state: length of each alternating round (default 30)"
    )
    parser.add_argument(
        "--workers", type=int, default=2 if redis else 1,
        help="app gunicorn workers (default 2 with REDIS_URL, else 1: without Redis each worker has its own cache)",
    )
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per app worker (default 8)")
    parser.add_argument("--sandbox-workers", type=int, default=2, help="sandbox gunicorn workers (default 2)")
    parser.add_argument("--rss-points", default="1000,100000", help="installed counts to measure RSS at ('' for none)")
    parser.add_argument("--rss-events", type=int, default=3000, help="events sent at each RSS point (default 3000)")
    parser.add_argument(
        "--rss-rate", type=float, default=100,
        help="their rate, events/s (default 100): below capacity, so no backlog of acked events grows in memory",
    )
    parser.add_argument(
        "--replies", choices=["fast", "sandbox"], default="fast",
        help="measured runs: the listeners' chat.postMessage answered by bench/slack_proxy.py (fast, default) or "
        "by the sandbox (every run is then bound by the sandbox's CPU)",
    )
    parser.add_argument("--install-threads", type=int, default=4, help="parallel OAuth installs (default 4)")
    parser.add_argument("--database-name", default="slackhub_bench", help="bench database on a PostgreSQL server")
    args = parser.parse_args()
    args.rss_points = sorted({int(point) for point in args.rss_points.split(",") if point.strip()})
    args.worker_processes = args.workers  # Dramatiq worker processes (bench/background.py has an option)
    return args


# --- database and environment -------------------------------------------------------------------


def bench_database(args):
    """(DATABASE_URL for the bench, label); the bench database is made empty first."""
    url = os.getenv("DATABASE_URL", "")
    if urlsplit(url).scheme in ("postgres", "postgresql", "pgsql"):
        import psycopg

        name = args.database_name
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name == urlsplit(url).path.lstrip("/"):
            sys.exit(f"--database-name {name!r}: give a plain name other than DATABASE_URL's own database")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {name}")
        return urlunsplit(urlsplit(url)._replace(path=f"/{name}")), "postgresql"
    path = RESULTS / "bench.sqlite3"
    for leftover in RESULTS.glob("bench.sqlite3*"):
        leftover.unlink()
    return f"sqlite:///{path}", "sqlite"


def environments(args, database_url, app_port, sandbox_port, proxy_port, stamp):
    from cryptography.fernet import Fernet

    inherited = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("SLACK_", "SANDBOX_", "BENCH_", "DJANGO_"))
        and name not in ("DEBUG", "DATABASE_URL", "REDIS_URL", "CACHE_DIR", "WEB_CONCURRENCY", "GUNICORN_THREADS")
    }
    common = {
        **inherited,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key-" + Fernet.generate_key().decode(),
        "SLACK_CLIENT_ID": "bench-client-id",
        "SLACK_CLIENT_SECRET": "bench-client-secret",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SLACK_REDIRECT_URI": f"http://127.0.0.1:{app_port}/slack/oauth_redirect",
    }
    sandbox = {**common, "DEBUG": "1", "SLACK_SANDBOX": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    app = {
        **common,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",  # production settings over plain http (config/settings.py)
        "SLACK_SANDBOX": "0",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SLACK_API_URL": f"http://127.0.0.1:{proxy_port}/sandbox/api/",
        "SLACK_AUTHORIZE_URL": f"http://127.0.0.1:{sandbox_port}/sandbox/oauth/v2/authorize",
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
    }
    if os.getenv("REDIS_URL"):
        app.update(REDIS_URL=os.environ["REDIS_URL"], CACHE_KEY_PREFIX=f"slackhub-bench-{stamp}")
    return sandbox, app


# --- measuring ----------------------------------------------------------------------------------


class Bench:
    """The servers of one bench run, and how to load and measure them."""

    def __init__(self, args, run_dir, app_env, app_port):
        self.args, self.run_dir, self.app_env, self.app_port = args, run_dir, app_env, app_port
        self.app = self.sandbox = self.proxy = self.worker = None
        self.starts = 0

    def start_slack(self, sandbox_env, sandbox_port, proxy_port):
        self.sandbox = Gunicorn(
            "sandbox", sandbox_env, ["-k", "gthread", "--threads", "8"], self.run_dir, self.args.sandbox_workers,
            port=sandbox_port,
        )
        self.proxy_url = f"http://127.0.0.1:{proxy_port}"
        self.proxy = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "slack_proxy.py"), "--port", str(proxy_port), "--sandbox", self.sandbox.url],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.proxy_counts()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def start_app(self, **env):
        for process in (self.app, self.worker):
            if process is not None:
                process.stop()
        self.starts += 1
        self.stats_dir = self.run_dir / f"stats-{self.starts}"
        self.stats_dir.mkdir()
        self.app_env.update(env, BENCH_STATS_DIR=str(self.stats_dir))
        self.app = Gunicorn(
            "app", self.app_env, ["-c", "config/gunicorn.py"], self.run_dir, self.args.workers, port=self.app_port
        )
        if os.getenv("REDIS_URL"):  # a broker: plugins run in the worker, as in production
            self.worker = Worker(self.app_env, self.run_dir, processes=self.args.worker_processes)

    def app_cpu(self):
        """The app's CPU: its web workers and, with a broker, its Dramatiq worker."""
        return self.app.cpu_seconds() + (self.worker.cpu_seconds() if self.worker is not None else 0.0)

    def stop(self):
        for server in (self.app, self.worker, self.sandbox):
            if server is not None:
                server.stop()
        if self.proxy is not None:
            self.proxy.terminate()
            self.proxy.wait()

    # --- Slack's side

    def fast_replies(self, fast):
        http.post(f"{self.proxy_url}/mode?fast={int(fast)}", timeout=5).raise_for_status()

    def proxy_counts(self):
        return http.get(f"{self.proxy_url}/counts", timeout=5).json()

    def slack_snapshot(self):
        from django.db.models import Max

        from sandbox.models import ApiCall

        proxy = self.proxy_counts()
        return {"last_api_call": ApiCall.objects.aggregate(last=Max("id"))["last"] or 0, "fast": proxy["fast"]}

    def replies_since(self, before):
        """(replies posted since `before`, of which accepted, time of the last one)."""
        from django.db.models import Count, Max, Q

        from sandbox.models import ApiCall

        proxy = self.proxy_counts()
        fast = proxy["fast"].get("chat.postMessage", 0) - before["fast"].get("chat.postMessage", 0)
        posted = ApiCall.objects.filter(id__gt=before["last_api_call"], method="chat.postMessage").aggregate(
            n=Count("id"), ok=Count("id", filter=Q(ok=True)), last=Max("created_at")
        )
        times = [t for t in (posted["last"] and posted["last"].timestamp(), fast and proxy["last_fast_at"]) if t]
        return posted["n"] + fast, posted["ok"] + fast, max(times, default=None)

    def drain(self, before, expected, patience=20):
        """Wait until the listeners have posted `expected` replies (Bolt runs them after the ack)."""
        seen, changed = -1, time.monotonic()
        while (count := self.replies_since(before)[0]) < expected:
            if count != seen:
                seen, changed = count, time.monotonic()
            elif time.monotonic() - changed > patience:
                break
            time.sleep(0.2)

    # --- load and measurements

    def load(self, path, workspaces, first=0, seconds=None, each=False, count=None, rate=None, users=None, first_person=0):
        out = self.run_dir / f"load-{time.monotonic_ns()}.json"
        command = [
            sys.executable, str(ROOT / "bench" / "load.py"), "--url", f"{self.app.url}{path}", "--secret", SIGNING_SECRET,
            "--workspaces", str(workspaces), "--first", str(first), "--users", str(users or self.args.users),
            "--first-person", str(first_person),
            "--seconds", str(seconds or self.args.seconds), "--concurrency", str(self.args.concurrency),
            "--out", str(out),
        ] + (["--each"] if each else []) + (["--count", str(count)] if count else []) + (["--rate", str(rate)] if rate else [])
        subprocess.run(command, check=True, cwd=ROOT)
        return json.loads(out.read_text())

    def snapshot(self):
        workers = self.app.workers()
        counters = instrument.read(self.stats_dir)
        return {
            "workers": workers,
            "queries": sum(counters.get(pid, {}).get("queries", 0) for pid in workers),
            "connections": sum(counters.get(pid, {}).get("connections", 0) for pid in workers),
            "app_cpu": self.app_cpu(),
            "slack_cpu": self.sandbox.cpu_seconds() + cpu_seconds(self.proxy.pid),
            "slack": self.slack_snapshot(),
            "redis_reads": redis_reads(),
        }

    def run(self, path, workspaces, first=0, listener=True, count=None, rate=None, seconds=None):
        """One measured run: the raw counts, to be summed over rounds by `figures`."""
        from django.db.models import Count

        from sandbox.models import ApiCall

        self.fast_replies(self.args.replies == "fast")
        before = self.snapshot()
        load = self.load(path, workspaces, first=first, count=count, rate=rate, seconds=seconds)
        if listener:
            self.drain(before["slack"], load["ok"])
        after = self.snapshot()
        if after["workers"] != before["workers"]:
            print(f"  warning: app workers changed during the run ({before['workers']} -> {after['workers']})")
        forwarded = ApiCall.objects.filter(
            id__gt=before["slack"]["last_api_call"], id__lte=after["slack"]["last_api_call"]
        )
        calls = Counter(dict(forwarded.values_list("method").annotate(n=Count("id")).order_by("method")))
        calls.update(Counter(after["slack"]["fast"]) - Counter(before["slack"]["fast"]))
        elapsed = load["finished_at"] - load["started_at"]
        if listener:
            _, handled, last = self.replies_since(before["slack"])
            handled_elapsed = (last - load["started_at"]) if last else elapsed
        else:
            handled, handled_elapsed = load["ok"], elapsed
        return {
            "sent": load["sent"],
            "events": load["ok"],
            "handled": handled,
            "statuses": load["statuses"],
            "seconds": elapsed,
            "handled_seconds": handled_elapsed,
            # the last reply after the last ack: how far the listeners were behind when the load stopped
            "reply_lag_seconds": max(0.0, handled_elapsed - elapsed) if listener else 0.0,
            "latencies_ms": load["latencies_ms"],
            "queries": after["queries"] - before["queries"],
            "connections": after["connections"] - before["connections"],
            "redis_reads": after["redis_reads"] - before["redis_reads"],
            "calls": dict(calls),
            "app_cpu": after["app_cpu"] - before["app_cpu"],
            "slack_cpu": after["slack_cpu"] - before["slack_cpu"],
            "load_cpu": load["cpu_seconds"],
            "rss_mb": self.app.rss_mb(),
        }


def redis_reads():
    """GET and MGET commands Redis has run (INFO commandstats; 0 without REDIS_URL). Counted server-wide:
    the bench's Redis should serve nothing else meanwhile."""
    if not os.getenv("REDIS_URL"):
        return 0
    from installations.redis_cache import redis_client

    stats = redis_client().info("commandstats")
    return sum(stats.get(f"cmdstat_{command}", {}).get("calls", 0) for command in ("get", "mget"))


def share(part, whole):
    return part / whole if whole else float("nan")


def percentile(ordered, fraction):
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def figures(name, runs):
    """A target's figures over its runs (rounds): totals divided by totals."""
    total = {key: sum(run[key] for run in runs) for key in (
        "sent", "events", "handled", "seconds", "handled_seconds", "queries", "connections", "app_cpu", "slack_cpu", "load_cpu",
        "redis_reads",
    )}
    calls = sum((Counter(run["calls"]) for run in runs), Counter())
    latencies = sorted(latency for run in runs for latency in run["latencies_ms"])
    events = total["events"] or 1
    return {
        "name": name,
        "rounds": len(runs),
        "sent": total["sent"],
        "events": total["events"],
        "handled": total["handled"],
        # not acked with 200, or (listeners) acked but no reply accepted
        "errors": total["sent"] - total["handled"],
        "statuses": dict(sum((Counter(run["statuses"]) for run in runs), Counter())),
        "events_per_s": share(total["handled"], total["handled_seconds"]),
        "events_per_s_by_round": [round(share(run["handled"], run["handled_seconds"]), 1) for run in runs],
        "acked_per_s": share(total["events"], total["seconds"]),
        "reply_lag_seconds": max(run["reply_lag_seconds"] for run in runs),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "sql_per_event": total["queries"] / events,
        "redis_reads_per_event": total["redis_reads"] / events,
        "api_calls_per_event": {method: n / events for method, n in sorted(calls.items())},
        "auth_test_per_event": calls.get("auth.test", 0) / events,
        "new_connections_per_event": total["connections"] / events,
        "app_cpu_ms_per_event": 1000 * total["app_cpu"] / events,
        "slack_cpu_ms_per_event": 1000 * total["slack_cpu"] / events,
        "load_cpu_ms_per_event": 1000 * total["load_cpu"] / events,
        "rss_mb": runs[-1]["rss_mb"],
    }


# --- reporting ----------------------------------------------------------------------------------


def fmt(value, digits=1):
    return "-" if value is None else f"{value:,.{digits}f}"


def calls_text(calls):
    return ", ".join(f"{method} {n:.2f}" for method, n in calls.items()) or "none"


def throughput_table(rows):
    lines = [
        "| target | events/s | (by round) | acked/s | reply lag s | p50 ms | p99 ms | SQL/event | Slack API calls/event "
        "| new DB conns/event | app CPU ms/event | Slack-side CPU ms/event | worker RSS MB | errors |",
        "|" + "---|" * 14,
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {fmt(row['events_per_s'])} | {', '.join(fmt(r, 0) for r in row['events_per_s_by_round'])} "
            f"| {fmt(row['acked_per_s'])} | {fmt(row['reply_lag_seconds'])} | {fmt(row['p50_ms'])} "
            f"| {fmt(row['p99_ms'])} | {fmt(row['sql_per_event'], 3)} | {calls_text(row['api_calls_per_event'])} "
            f"| {fmt(row['new_connections_per_event'], 4)} | {fmt(row['app_cpu_ms_per_event'], 2)} "
            f"| {fmt(row['slack_cpu_ms_per_event'], 2)} | {' / '.join(fmt(r) for r in row['rss_mb'])} | {row['errors']} |"
        )
    return "\n".join(lines)


def steady_table(rows):
    lines = [
        "| target | events/s | (by round) | p50 ms | p99 ms | SQL/event | Redis reads/event | app CPU ms/event | errors |",
        "|" + "---|" * 9,
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {fmt(row['events_per_s'])} | {', '.join(fmt(r, 0) for r in row['events_per_s_by_round'])} "
            f"| {fmt(row['p50_ms'])} | {fmt(row['p99_ms'])} | {fmt(row['sql_per_event'], 3)} "
            f"| {fmt(row['redis_reads_per_event'], 3)} | {fmt(row['app_cpu_ms_per_event'], 2)} | {row['errors']} |"
        )
    return "\n".join(lines)


def rss_table(rows):
    lines = [
        "| installed workspaces | how installed | events | events/s | reply lag s | SQL/event | new DB conns/event "
        "| app CPU ms/event | worker RSS MB at start | worker RSS MB after | errors |",
        "|" + "---|" * 11,
    ]
    for row in rows:
        lines.append(
            f"| {row['installed']:,} | {row['how']} | {row['events']:,} | {fmt(row['events_per_s'])} "
            f"| {fmt(row['reply_lag_seconds'])} "
            f"| {fmt(row['sql_per_event'], 3)} | {fmt(row['new_connections_per_event'], 4)} "
            f"| {fmt(row['app_cpu_ms_per_event'], 2)} | {' / '.join(fmt(r) for r in row['rss_start_mb'])} "
            f"| {' / '.join(fmt(r) for r in row['rss_mb'])} | {row['errors']} |"
        )
    return "\n".join(lines)


def verdicts(rows, rss_rows, steady_rows, install_sql):
    bare, fixed, real = rows
    ratio = share(real["events_per_s"], fixed["events_per_s"])
    lines = [
        f"- SQL statements per install (OAuth callback and install page): {install_sql:.1f} (target <= 10: "
        f"{'met' if install_sql <= 10 else 'NOT met'})",
        f"- slackhub / fixed-token ceiling, events/s: **{ratio:.0%}** (target >= {TARGET_RATIO:.0%}: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})",
        f"- slackhub / bare Django view, events/s: {share(real['events_per_s'], bare['events_per_s']):.0%}; "
        f"fixed-token / bare: {share(fixed['events_per_s'], bare['events_per_s']):.0%}",
        f"- slackhub app CPU per event: {share(real['app_cpu_ms_per_event'], fixed['app_cpu_ms_per_event']):.2f}x the "
        f"fixed-token ceiling's ({fmt(real['app_cpu_ms_per_event'], 2)} vs {fmt(fixed['app_cpu_ms_per_event'], 2)} ms)",
        f"- new DB connections per event (warm): {real['new_connections_per_event']:.4f} (target 0: "
        f"{'met' if real['new_connections_per_event'] == 0 else 'NOT met'})",
        f"- SQL queries per event (warm cache): {real['sql_per_event']:.3f}; auth.test per event: "
        f"{real['auth_test_per_event']:.3f} (target 0: {'met' if real['auth_test_per_event'] == 0 else 'NOT met'})",
    ]
    if steady_rows:
        steady_fixed, steady_real = steady_rows
        steady_ratio = share(steady_real["events_per_s"], steady_fixed["events_per_s"])
        lines.append(
            f"- steady state ({steady_real['rounds']} alternating rounds): slackhub / fixed-token ceiling, events/s: "
            f"**{steady_ratio:.0%}** (target >= {STEADY_TARGET_RATIO:.0%}: "
            f"{'met' if steady_ratio >= STEADY_TARGET_RATIO else 'NOT met'}); SQL/event {steady_real['sql_per_event']:.3f}, "
            f"Redis reads/event {steady_real['redis_reads_per_event']:.3f}"
        )
    if len(rss_rows) >= 2:
        first, last = rss_rows[0], rss_rows[-1]
        growth = max(last["rss_mb"]) - max(first["rss_mb"])
        lines.append(
            f"- worker RSS from {first['installed']:,} to {last['installed']:,} installed workspaces: "
            f"{max(first['rss_mb']):.1f} -> {max(last['rss_mb']):.1f} MB ({growth:+.1f} MB, {share(growth, max(first['rss_mb'])):+.0%})"
        )
    return "\n".join(lines)


# --- the run ------------------------------------------------------------------------------------


def prepare_database(label):
    """Migrate the bench database and collect static files (production settings need the manifest)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if label == "sqlite":
        from django.db import connection

        # Kept in the file: the app, the sandbox and this process write concurrently during installs
        # and the warm-up; with the default rollback journal a reader blocks every writer.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")


def main():
    args = parse_args()
    load_before = f"{os.getloadavg()[0]:.1f}"
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    database_url, label = bench_database(args)
    run_dir = RESULTS / f"{stamp}-{label}"
    run_dir.mkdir()
    app_port, sandbox_port, proxy_port = free_port(), free_port(), free_port()
    sandbox_env, app_env = environments(args, database_url, app_port, sandbox_port, proxy_port, stamp)
    # This process reads and writes the bench database with the app's own settings.
    for name in set(os.environ) - set(app_env):
        del os.environ[name]
    os.environ.update(app_env)
    import django

    django.setup()
    from django.conf import settings

    from bench import workspaces
    from installations.models import Installation
    from sandbox.models import Token

    cache_note = (
        f"Redis ({settings.REDIS_URL}), shared by the {args.workers} workers"
        if settings.REDIS_URL
        else f"per process (locmem, no REDIS_URL): {args.workers} worker(s)"
        + (" -- NOT coherent across workers, each warms its own cache" if args.workers > 1 else "")
    )
    print(f"slackhub bench: {label}, app {args.workers} gunicorn gthread worker(s) x {args.threads} threads, "
          f"cache {cache_note}")
    print(f"  results and logs in {run_dir.relative_to(ROOT)}")
    prepare_database(label)

    bench = Bench(args, run_dir, app_env, app_port)
    try:
        bench.start_slack(sandbox_env, sandbox_port, proxy_port)
        n = args.workspaces
        workspaces.create_in_sandbox(0, n)
        bench.start_app()
        print(f"  installing {n:,} workspaces over OAuth ({args.install_threads} browsers in parallel)...")
        started, before = time.monotonic(), bench.snapshot()
        workspaces.install_all_over_oauth(bench.app.url, 0, n, args.install_threads)
        install_seconds, after = time.monotonic() - started, bench.snapshot()
        install_sql = (after["queries"] - before["queries"]) / n
        install_cost = (
            f"per install: app {1000 * (after['app_cpu'] - before['app_cpu']) / n:.0f} ms CPU and "
            f"{(after['queries'] - before['queries']) / n:.1f} SQL queries, Slack side "
            f"{1000 * (after['slack_cpu'] - before['slack_cpu']) / n:.0f} ms CPU"
        )
        installed = Installation.objects.count()
        assert installed == n, f"{installed} installations after {n} OAuth installs"
        print(f"  installed {n:,} workspaces over OAuth in {install_seconds:.0f}s ({n / install_seconds:.1f}/s); {install_cost}")
        workspaces.join_workspaces(0, n, args.users)

        token = Token.objects.filter(workspace_id=ids.team_id(0), kind=Token.BOT).latest("created_at").token
        bench.start_app(BENCH_FIXED_TOKEN=token)
        # Warm-up: an event from every person of every workspace, so the installation cache is warm.
        # The installers' replies go through the sandbox, which checks each workspace's token against
        # its channel; the others' are answered by the proxy (the sandbox is slow). The fixed-token
        # App is built on its first event (its one auth.test).
        warm_started, since = time.monotonic(), bench.slack_snapshot()
        bench.fast_replies(False)
        checked = bench.load("/slack/events", n, each=True, users=1)
        warm_fixed = bench.load("/bench/fixed-token/events", 1, seconds=2)
        bench.drain(since, checked["ok"] + warm_fixed["ok"])
        _, accepted, _ = bench.replies_since(since)
        bench.fast_replies(True)
        since = bench.slack_snapshot()
        warm = bench.load("/slack/events", n, each=True, first_person=1)
        bench.load("/bench/bare", n, seconds=2)
        bench.drain(since, warm["ok"])
        warm_up = (
            f"Warm-up: one event from each of the {n * args.users:,} people ({args.users} per workspace), and "
            f"{warm_fixed['sent']:,} to the fixed-token ceiling; the sandbox accepted {accepted:,} of the "
            f"{n + warm_fixed['sent']:,} replies to the installers and the ceiling (the right token for each workspace's "
            f"channel), in {time.monotonic() - warm_started:.0f}s."
        )
        print(f"  {warm_up}")
        statuses = Counter(checked["statuses"]) + Counter(warm["statuses"])
        if accepted != n + warm_fixed["sent"] or set(statuses) != {"200"}:
            print(f"  warning: warm-up problems: statuses {dict(statuses)}; see {run_dir.relative_to(ROOT)}/app.log")

        targets = [
            ("bare Django view", "/bench/bare", n, False),
            ("fixed-token Bolt ceiling", "/bench/fixed-token/events", 1, True),
            (f"slackhub, {n:,} workspaces", "/slack/events", n, True),
        ]
        # Rounds in alternating order, so a slow patch of the machine does not land on one target.
        runs = {target[0]: [] for target in targets}
        for round_ in range(args.rounds):
            for name, path, count, listener in targets if round_ % 2 == 0 else targets[::-1]:
                run = bench.run(path, count, listener=listener)
                runs[name].append(run)
                print(f"  round {round_ + 1}, {name}: {share(run['handled'], run['handled_seconds']):,.0f} events/s")
        rows = [figures(name, runs[name]) for name, *_ in targets]

        # Steady state: minutes of load on a cache warmed long before, against the ceiling in
        # alternating rounds (the first round of each pair alternates too).
        steady_rows = []
        if args.steady_seconds > 0:
            steady_targets = targets[1:]
            steady_runs = {name: [] for name, *_ in steady_targets}
            round_seconds = min(args.steady_round_seconds, args.steady_seconds)
            for round_ in range(max(1, round(args.steady_seconds / round_seconds))):
                for name, path, count, listener in steady_targets if round_ % 2 == 0 else steady_targets[::-1]:
                    run = bench.run(path, count, listener=listener, seconds=round_seconds)
                    steady_runs[name].append(run)
                print(f"  steady state, round {round_ + 1}: " + ", ".join(
                    f"{name} {share(runs_[-1]['handled'], runs_[-1]['handled_seconds']):,.0f} events/s"
                    for name, runs_ in steady_runs.items()
                ))
            steady_rows = [figures(f"{name}, steady state", steady_runs[name]) for name, *_ in steady_targets]

        rss_rows = []
        for point in args.rss_points:
            how = "OAuth"
            if point > installed:
                started = time.monotonic()
                workspaces.install_in_bulk(installed, point - installed, args.users)
                print(f"  bulk-inserted {point - installed:,} more installations in {time.monotonic() - started:.0f}s")
                installed = point
            if installed > n:
                how = f"{n:,} OAuth + {installed - n:,} bulk-inserted"
            bench.start_app(BENCH_FIXED_TOKEN=token)
            rss_start = bench.app.rss_mb()
            run = bench.run("/slack/events", installed, count=args.rss_events, rate=args.rss_rate)
            row = figures(f"slackhub, {installed:,} installed (cold)", [run])
            rss_rows.append({**row, "installed": installed, "how": how, "rss_start_mb": rss_start})
            print(f"  {installed:,} installed: worker RSS {rss_start} -> {row['rss_mb']} MB")
    finally:
        bench.stop()
        if settings.REDIS_URL:
            from installations.redis_cache import redis_client

            # The cache's keys, the broker's (`<prefix>-tasks:`) and plugin storage's (`<prefix>-storage:`).
            delete_keys(redis_client(), f"{app_env['CACHE_KEY_PREFIX']}*")

    setup = (
        f"{label}; app: gunicorn {args.workers} gthread worker(s) x {args.threads} threads, DEBUG=0; cache: {cache_note}; "
        f"sandbox: gunicorn {args.sandbox_workers} worker(s), DEBUG=1, same database; measured replies: "
        f"{'answered by bench/slack_proxy.py' if args.replies == 'fast' else 'through the sandbox'}; load: {args.concurrency} "
        f"connections, {args.rounds} x {args.seconds:.0f}s per target, events from {args.users} people per workspace; "
        f"{os.cpu_count()} CPUs; load average {load_before} before the run, {os.getloadavg()[0]:.1f} after"
    )
    report = "\n\n".join([
        f"# slackhub bench {stamp}",
        setup,
        f"Installed {n:,} workspaces over OAuth in {install_seconds:.0f}s ({install_cost}). {warm_up}",
        "## Throughput (warm cache)",
        throughput_table(rows),
        f"## Steady state ({args.steady_seconds:.0f}s per target in alternating rounds of "
        f"{min(args.steady_round_seconds, args.steady_seconds or 1):.0f}s, after the rounds above)",
        steady_table(steady_rows) if steady_rows else "(no --steady-seconds)",
        f"## RSS against installed workspaces (each point: app restarted, {args.rss_events:,} events at "
        f"{args.rss_rate:.0f}/s over every workspace, cold cache)",
        rss_table(rss_rows) if rss_rows else "(no --rss-points)",
        "## Verdicts",
        verdicts(rows, rss_rows, steady_rows, install_sql),
    ])
    print("\n" + report)
    (RESULTS / f"{stamp}-{label}.md").write_text(report + "\n")
    (RESULTS / f"{stamp}-{label}.json").write_text(json.dumps(
        {"setup": setup, "args": vars(args), "install_seconds": install_seconds, "install_sql": install_sql,
         "throughput": rows, "steady_state": steady_rows, "rss": rss_rows},
        indent=2,
    ))


if __name__ == "__main__":
    main()
