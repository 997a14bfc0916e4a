"""What metrics cost: the app with /metrics on (METRICS_TOKEN set, multiprocess files, scraped every
`--scrape-every` seconds) against the app with it off, on the same workspaces and load.

    .venv/bin/python bench/metrics.py --workspaces 100 --seconds 10 --rounds 3

Takes bench/run.py's options (its setup: the sandbox, OAuth installs, production settings), then
runs both apps side by side and measures them in alternating rounds, so a slow patch of a shared
machine does not land on one of them. Issue 15's target: metrics on within 5% of off.
"""

import argparse
import os
import sys
import threading
from datetime import datetime

from run import (  # bench/run.py, next to this file; it puts the project on sys.path
    RESULTS, ROOT, Bench, Gunicorn, bench_database, environments, figures, fmt, free_port, http, prepare_database, share,
    throughput_table,
)

TOKEN = "bench-metrics-token"
TARGET = 0.05
# The counting one event does (web: the request, the cache hit, the Slack request; worker: the
# handler run and its reply), in multiprocess mode, timed in a process of its own: on a shared
# machine the rounds above swing more than metrics cost, and this figure does not.
COUNTING = """
import os, sys, tempfile, time
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="slackhub-metrics-cost-")
from installations import metrics as m
body = {"type": "event_callback", "event": {"type": "app_mention"}}
def one_event():
    m.HTTP_REQUESTS.labels("slack_events", "POST", "200").inc()
    m.HTTP_DURATION.labels("slack_events").observe(0.004)
    m.AUTHORIZE_CACHE_HIT.inc()
    m.count_slack_request(body, "queued")
    m.AUTHORIZE_CACHE_HIT.inc()
    m.PLUGIN_RUNS.labels("plugins.builtin.greeting.Greeting", "ok").inc()
    m.PLUGIN_DURATION.labels("plugins.builtin.greeting.Greeting").observe(0.002)
    m.SLACK_API_CALLS.labels("chat.postMessage", "ok").inc()
for _ in range(1000):
    one_event()
started = time.process_time()
for _ in range(20000):
    one_event()
print(1e3 * (time.process_time() - started) / 20000)
"""


def counting_ms_per_event():
    import subprocess

    done = subprocess.run([sys.executable, "-c", COUNTING], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return float(done.stdout)


def own_args():
    """--scrape-every, taken off the command line before bench/run.py parses the rest."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--scrape-every", type=float, default=5.0, help="seconds between scrapes (default 5)")
    mine, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    return mine


class Scraper:
    """Prometheus, roughly: GET /metrics every `every` seconds while a run is measured."""

    def __init__(self, url, every):
        self.url, self.every, self.sizes = f"{url}/metrics", every, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.wait(self.every):
            response = http.get(self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            response.raise_for_status()
            self.sizes.append(len(response.content))

    def close(self):
        self.stop.set()
        self.thread.join()


def main():
    mine = own_args()
    from run import parse_args

    args = parse_args()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    database_url, label = bench_database(args)
    run_dir = RESULTS / f"{stamp}-{label}-metrics"
    run_dir.mkdir()
    app_port, on_port, sandbox_port, proxy_port = free_port(), free_port(), free_port(), free_port()
    sandbox_env, app_env = environments(args, database_url, app_port, sandbox_port, proxy_port, stamp)
    app_env.pop("METRICS_TOKEN", None)
    app_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    for name in set(os.environ) - set(app_env):
        del os.environ[name]
    os.environ.update(app_env)
    import django

    django.setup()
    from bench import workspaces

    prepare_database(label)

    n = args.workspaces
    print(f"slackhub metrics bench: {label}, {n:,} workspaces, app {args.workers} worker(s) x {args.threads} threads, "
          f"{args.rounds} x {args.seconds:.0f}s per target, scrape every {mine.scrape_every:.0f}s")
    bench = Bench(args, run_dir, app_env, app_port)
    metrics_app = None
    try:
        bench.start_slack(sandbox_env, sandbox_port, proxy_port)
        workspaces.create_in_sandbox(0, n)
        bench.start_app()
        workspaces.install_all_over_oauth(bench.app.url, 0, n, args.install_threads)
        workspaces.join_workspaces(0, n, args.users)

        off = (bench.app, bench.stats_dir)
        on_stats = run_dir / "stats-metrics"
        on_stats.mkdir()
        metrics_app = Gunicorn(
            "app-metrics", {**app_env, "METRICS_TOKEN": TOKEN, "BENCH_STATS_DIR": str(on_stats)},
            ["-c", "config/gunicorn.py"], run_dir, args.workers, port=on_port,
        )
        on = (metrics_app, on_stats)

        def use(app):
            bench.app, bench.stats_dir = app

        bench.fast_replies(True)
        for app in (off, on):  # warm each app's caches: an event from every person
            use(app)
            since = bench.slack_snapshot()
            warm = bench.load("/slack/events", n, each=True)
            bench.drain(since, warm["ok"])

        runs, scraped = {"off": [], "on": []}, []
        for round_ in range(args.rounds):
            for name, app in ((("off", off), ("on", on)) if round_ % 2 == 0 else (("on", on), ("off", off))):
                use(app)
                scraper = Scraper(metrics_app.url, mine.scrape_every) if name == "on" else None
                try:
                    run = bench.run("/slack/events", n)
                finally:
                    if scraper is not None:
                        scraper.close()
                        scraped += scraper.sizes
                runs[name].append(run)
                print(f"  round {round_ + 1}, metrics {name}: {share(run['handled'], run['handled_seconds']):,.0f} events/s, "
                      f"{fmt(1000 * run['app_cpu'] / max(run['events'], 1), 2)} app CPU ms/event")
        use(off)
    finally:
        bench.stop()
        if metrics_app is not None:
            metrics_app.stop()

    rows = [figures("metrics off", runs["off"]), figures("metrics on (scraped)", runs["on"])]
    throughput = share(rows[1]["events_per_s"], rows[0]["events_per_s"])
    cpu = share(rows[1]["app_cpu_ms_per_event"], rows[0]["app_cpu_ms_per_event"])
    counting = counting_ms_per_event()
    verdict = (
        f"- events/s with metrics on: **{throughput:.1%}** of off; app CPU per event: **{cpu:.1%}** of off "
        f"(target: within {TARGET:.0%}: {'met' if throughput >= 1 - TARGET and cpu <= 1 + TARGET else 'NOT met'})\n"
        f"- counting, timed alone: {counting * 1000:.0f} µs of CPU per event, "
        f"{share(counting, rows[0]['app_cpu_ms_per_event']):.1%} of the app's CPU per event with metrics off\n"
        f"- {len(scraped)} scrapes of {max(scraped, default=0):,} bytes at most"
    )
    report = "\n\n".join([
        f"# slackhub metrics bench {stamp}",
        f"{label}; {n:,} workspaces; app: gunicorn {args.workers} gthread worker(s) x {args.threads} threads, DEBUG=0; "
        f"{args.rounds} x {args.seconds:.0f}s per target, alternating; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f} after",
        throughput_table(rows),
        verdict,
    ])
    print("\n" + report)
    (RESULTS / f"{stamp}-{label}-metrics.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
