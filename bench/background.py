"""Background work's figures (issue 12): `make bench-background`, or `.venv/bin/python bench/background.py --help`.

Needs REDIS_URL: the broker (Dramatiq's Redis broker, under this run's own key prefix, deleted at the
end). The servers, the load and the measurements are bench/run.py's (see bench/README.md):

1. A fresh bench database (`--database-name`, or bench/results/bench.sqlite3), the sandbox behind
   bench/slack_proxy.py, the app (gunicorn -c config/gunicorn.py, DEBUG=0, `--workers` processes) and
   its Dramatiq worker (`manage.py rundramatiq`, `--worker-processes` processes x 8 threads, one more
   than the web's by default, at TASKS_WORKER_NICE), all on this machine's cores.
2. `--workspaces` installed over OAuth; a warm-up event from every person.
3. `--rounds` x `--seconds` of closed-loop load (`--concurrency` connections) per target, alternating:
   - **fixed-token Bolt ceiling**: `/bench/fixed-token-bolt/events`, one workspace's fixed token and
     the greeting as a Bolt listener, run in the web process after the ack (no broker): what a whole
     event costs when nothing survives a restart.
   - **fixed-token App through the broker**: `/bench/fixed-token/events` (bench/run.py's ceiling): the
     same token, the app's path after authorize (the broker, the worker's claim and plugins).
   - **slackhub**: `/slack/events`, acked once the event is in the broker, answered by the worker.
   Every reply (chat.postMessage) is answered by the proxy, as in `make bench`.

Figures: acked/s; events/s end to end (replies / time from the first event sent to the last reply);
ack p50/p99; the broker's backlog (messages sent and not yet acked by a worker) sampled every
`--sample-seconds`; SQL per event in the web processes and per task in the worker processes
(bench/instrument.py). Tables go to stdout and bench/results/<time>-background-<database>.{md,json}.
"""

import argparse
import json
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ids, instrument  # noqa: E402
from bench.run import RESULTS, Bench, bench_database, environments, figures, fmt, prepare_database, share  # noqa: E402
from tests.processes import delete_keys, free_port  # noqa: E402

ACK_TARGET = 1.0  # slackhub's ack rate / the ceiling's events/s
END_TO_END_TARGET = 0.7  # slackhub's events/s end to end / the ceiling's
CEILING = ("fixed-token Bolt ceiling (listener in web, no broker)", "/bench/fixed-token-bolt/events")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspaces", type=int, default=100, help="installed over OAuth (default 100)")
    parser.add_argument("--users", type=int, default=ids.USERS_PER_WORKSPACE, help="people per workspace sending events")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured run (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per target, alternating (default 2)")
    parser.add_argument("--concurrency", type=int, default=16, help="load generator connections (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="web processes, and Dramatiq worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per web process (default 8)")
    parser.add_argument(
        "--worker-processes", type=int,
        help="Dramatiq worker processes, 8 threads each (default: --workers + 1; README \"Processes and scaling out\")",
    )
    parser.add_argument("--sandbox-workers", type=int, default=2, help="sandbox gunicorn workers (default 2)")
    parser.add_argument("--install-threads", type=int, default=4, help="parallel OAuth installs (default 4)")
    parser.add_argument("--sample-seconds", type=float, default=0.5, help="how often the backlog is read (default 0.5)")
    parser.add_argument("--database-name", default="slackhub_bench_background", help="bench database on a PostgreSQL server")
    args = parser.parse_args()
    args.replies = "fast"  # bench.run.Bench: replies answered by the proxy
    # Workers run below the web (TASKS_WORKER_NICE) and clear a burst's backlog once the web is idle;
    # a worker process's threads share one GIL (about 0.7 of a core each here), so on these cores one
    # process more than the web's fills them.
    args.worker_processes = args.worker_processes or args.workers + 1
    return args


class Backlog:
    """The broker's backlog, read on a thread while a run lasts: messages sent and not yet acked by
    a worker (queued, prefetched, being handled or waiting for a retry)."""

    def __init__(self, every):
        import redis
        from django.conf import settings

        self.client = redis.Redis.from_url(settings.BROKER_URL)
        self.keys = [f"{settings.DRAMATIQ_NAMESPACE}:default.msgs", f"{settings.DRAMATIQ_NAMESPACE}:default.DQ.msgs"]
        self.every, self.samples, self.stopped = every, [], threading.Event()

    def count(self):
        with self.client.pipeline(transaction=False) as pipe:
            for key in self.keys:
                pipe.hlen(key)
            return sum(pipe.execute())

    def _sample(self):
        started = time.monotonic()
        while not self.stopped.is_set():
            self.samples.append((round(time.monotonic() - started, 2), self.count()))
            self.stopped.wait(self.every)

    def __enter__(self):
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()


def worker_queries(bench):
    """SQL queries counted so far in the Dramatiq worker processes (every counted process that is
    not a web process)."""
    web = set(bench.app.workers())
    return sum(counts["queries"] for pid, counts in instrument.read(bench.stats_dir).items() if pid not in web)


def measured(bench, name, path, workspaces, args):
    """One run of a target, with the worker's queries and (with a broker) the backlog over time."""
    before = worker_queries(bench), bench.app.cpu_seconds(), bench.worker.cpu_seconds()
    with Backlog(args.sample_seconds) as backlog:
        run = bench.run(path, workspaces)
    run["worker_queries"] = worker_queries(bench) - before[0]
    run["web_cpu"] = bench.app.cpu_seconds() - before[1]
    run["worker_cpu"] = bench.worker.cpu_seconds() - before[2]
    run["backlog"] = backlog.samples
    print(f"  {name}: acked {share(run['events'], run['seconds']):,.0f}/s, answered "
          f"{share(run['handled'], run['handled_seconds']):,.0f}/s end to end, backlog max "
          f"{max((n for _, n in run['backlog']), default=0):,}")
    return run


def row(name, runs):
    found = figures(name, runs)
    tasks = found["handled"] or 1
    found["worker_sql_per_task"] = sum(run["worker_queries"] for run in runs) / tasks
    found["web_cpu_ms_per_event"] = 1000 * sum(run["web_cpu"] for run in runs) / (found["events"] or 1)
    found["worker_cpu_ms_per_event"] = 1000 * sum(run["worker_cpu"] for run in runs) / (found["events"] or 1)
    found["backlog_max"] = max((n for run in runs for _, n in run["backlog"]), default=0)
    found["backlog_by_second"] = [per_second(run["backlog"]) for run in runs]
    return found


def per_second(samples):
    """The first reading at or after each whole second."""
    series, second = [], 0
    for t, n in samples:
        if t >= second:
            series.append(n)
            second = int(t) + 1
    return series


def table(rows):
    lines = [
        "| target | acked/s | events/s end to end | (by round) | reply lag s | ack p50 ms | ack p99 ms | backlog max "
        "| SQL/event (web) | SQL/task (worker) | CPU ms/event: web + worker | errors |",
        "|" + "---|" * 12,
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {fmt(r['acked_per_s'])} | {fmt(r['events_per_s'])} "
            f"| {', '.join(fmt(x, 0) for x in r['events_per_s_by_round'])} | {fmt(r['reply_lag_seconds'])} "
            f"| {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | {r['backlog_max']:,} | {fmt(r['sql_per_event'], 3)} "
            f"| {fmt(r['worker_sql_per_task'], 3)} | {fmt(r['web_cpu_ms_per_event'], 2)} + {fmt(r['worker_cpu_ms_per_event'], 2)} "
            f"| {r['errors']} |"
        )
    return "\n".join(lines)


def backlog_text(r):
    return "\n".join(
        f"- round {number}: " + " ".join(f"{n:,}" for n in series)
        for number, series in enumerate(r["backlog_by_second"], start=1)
    )


def verdicts(ceiling, app):
    ack, end_to_end = share(app["acked_per_s"], ceiling["events_per_s"]), share(app["events_per_s"], ceiling["events_per_s"])
    return "\n".join([
        f"- ack rate / the ceiling's events/s: **{ack:.2f}x** (target >= {ACK_TARGET:.1f}x: "
        f"{'met' if ack >= ACK_TARGET else 'NOT met'})",
        f"- events/s end to end / the ceiling's: **{end_to_end:.2f}x** (target >= {END_TO_END_TARGET:.1f}x: "
        f"{'met' if end_to_end >= END_TO_END_TARGET else 'NOT met'})",
        f"- ack p99: {fmt(app['p99_ms'])} ms (Slack's limit 3000 ms: {'met' if (app['p99_ms'] or 0) < 3000 else 'NOT met'})",
        f"- SQL per task in the worker, warm: {app['worker_sql_per_task']:.3f} (target 0: "
        f"{'met' if app['worker_sql_per_task'] == 0 else 'NOT met'}); per event in web: {app['sql_per_event']:.3f}",
        f"- errors (not acked 200, or acked and not answered): {app['errors']}",
    ])


def main():
    args = parse_args()
    if not os.getenv("REDIS_URL"):
        sys.exit("bench/background.py needs REDIS_URL: the broker (and the cache) the app and its worker share")
    load_before = f"{os.getloadavg()[0]:.1f}"
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    database_url, label = bench_database(args)
    run_dir = RESULTS / f"{stamp}-background-{label}"
    run_dir.mkdir()
    app_port, sandbox_port, proxy_port = free_port(), free_port(), free_port()
    sandbox_env, app_env = environments(args, database_url, app_port, sandbox_port, proxy_port, stamp)
    app_env.update(TASKS_IN_PROCESS="0", RUN_SCHEDULER_IN_WEB="0")  # production's split: web acks, worker answers
    for name in set(os.environ) - set(app_env):
        del os.environ[name]
    os.environ.update(app_env)
    import django

    django.setup()
    from django.conf import settings

    from bench import workspaces
    from sandbox.models import Token

    print(f"slackhub background bench: {label}; web {args.workers} x {args.threads} threads, worker {args.worker_processes} x 8 "
          f"threads; broker {settings.BROKER_URL} ({settings.DRAMATIQ_NAMESPACE}); results in {run_dir.relative_to(ROOT)}")
    prepare_database(label)

    bench = Bench(args, run_dir, app_env, app_port)
    try:
        bench.start_slack(sandbox_env, sandbox_port, proxy_port)
        n = args.workspaces
        workspaces.create_in_sandbox(0, n)
        bench.start_app()
        started = time.monotonic()
        workspaces.install_all_over_oauth(bench.app.url, 0, n, args.install_threads)
        print(f"  installed {n:,} workspaces over OAuth in {time.monotonic() - started:.0f}s")
        workspaces.join_workspaces(0, n, args.users)
        token = Token.objects.filter(workspace_id=ids.team_id(0), kind=Token.BOT).latest("created_at").token
        bench.start_app(BENCH_FIXED_TOKEN=token)

        # Warm-up: an event from every person (the installation cache is then warm), the installers'
        # replies checked by the sandbox; the ceiling's App is built on its first event.
        since = bench.slack_snapshot()
        bench.fast_replies(False)
        checked = bench.load("/slack/events", n, each=True, users=1)
        warm_ceiling = bench.load(CEILING[1], 1, seconds=2)
        bench.drain(since, checked["ok"] + warm_ceiling["ok"])
        _, accepted, _ = bench.replies_since(since)
        bench.fast_replies(True)
        since = bench.slack_snapshot()
        warm = bench.load("/slack/events", n, each=True, first_person=1)
        bench.drain(since, warm["ok"])
        warm_up = (f"Warm-up: {checked['ok'] + warm['ok']:,} events to slackhub and {warm_ceiling['ok']:,} to the ceiling; "
                   f"the sandbox accepted {accepted:,} of the {checked['ok'] + warm_ceiling['ok']:,} replies it checked.")
        print(f"  {warm_up}")

        targets = [
            CEILING + (1,),
            # bench/run.py's ceiling: the same fixed token, the app's path after authorize (broker + worker)
            ("fixed-token App through the broker", "/bench/fixed-token/events", 1),
            (f"slackhub, {n:,} workspaces (broker + worker)", "/slack/events", n),
        ]
        runs = {name: [] for name, *_ in targets}
        for round_ in range(args.rounds):
            for name, path, count in targets if round_ % 2 == 0 else targets[::-1]:
                runs[name].append(measured(bench, name, path, count, args))
        rows = [row(name, runs[name]) for name, *_ in targets]
    finally:
        bench.stop()
        from installations.redis_cache import redis_client

        delete_keys(redis_client(), f"{app_env['CACHE_KEY_PREFIX']}*")  # cache, broker and storage keys

    setup = (
        f"{label}; web: gunicorn -c config/gunicorn.py, {args.workers} gthread processes x {args.threads} threads, DEBUG=0; "
        f"worker: manage.py rundramatiq, {args.worker_processes} processes x 8 threads; broker and cache: Redis {settings.REDIS_URL}; "
        f"replies answered by bench/slack_proxy.py; load: {args.concurrency} connections, {args.rounds} x "
        f"{args.seconds:.0f}s per target; {os.cpu_count()} CPUs for everything; load average {load_before} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    ceiling, app = rows[0], rows[-1]
    report = "\n\n".join([
        f"# slackhub background bench {stamp}",
        setup,
        warm_up,
        "## Throughput",
        table(rows),
        f"## The broker's backlog, one reading a second from the first event to the last reply ({app['name']})",
        backlog_text(app),
        "## Verdicts",
        verdicts(ceiling, app),
    ])
    print("\n" + report)
    (RESULTS / f"{stamp}-background-{label}.md").write_text(report + "\n")
    (RESULTS / f"{stamp}-background-{label}.json").write_text(json.dumps(
        {"setup": setup, "args": vars(args), "rows": rows, "runs": {name: runs[name] for name in runs}}, indent=2,
    ))


if __name__ == "__main__":
    main()
