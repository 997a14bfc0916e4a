"""The load generator: signed `app_mention` events as Slack sends them, from a separate process.

`--concurrency` threads each keep one HTTP/1.1 connection and post one event at a time (closed
loop; `--rate` paces them instead), for `--seconds`, or `--count` events, or (`--each`) once for
every (workspace, person) pair. Each event is built
and signed when sent (`sandbox.events`), from a random person of a random workspace. Prints nothing;
writes its counts and latencies as JSON to `--out`.
"""

import argparse
import http.client
import json
import random
import resource
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ids  # noqa: E402
from sandbox import events  # noqa: E402
from sandbox.ids import bot_user_id  # noqa: E402


def event_body(index, person) -> bytes:
    team = ids.team_id(index)
    mention = events.app_mention(team, ids.user_id(index, person), ids.channel_id(index), f"<@{bot_user_id(team)}> hi")
    return json.dumps(events.event_callback_body(team, mention)).encode()


class Load:
    def __init__(self, args):
        self.args = args
        url = urlsplit(args.url)
        self.host, self.port, self.path = url.hostname, url.port, url.path
        self.latencies, self.statuses = [], Counter()
        self.lock = threading.Lock()
        self.remaining, self.issued = args.count, 0
        if args.each:
            people = range(args.first_person, args.users)
            pairs = [(i, p) for i in range(args.first, args.first + args.workspaces) for p in people]
            random.shuffle(pairs)
            self.pairs = iter(pairs)

    def next_pair(self):
        if self.args.each:
            with self.lock:
                return next(self.pairs, None)
        with self.lock:
            if self.remaining is not None:
                if self.remaining <= 0:
                    return None
                self.remaining -= 1
            self.issued += 1
            issued = self.issued
        if self.args.rate:  # open loop: the n-th event leaves at n / rate, whatever the answers take
            time.sleep(max(0.0, self.started + issued / self.args.rate - time.monotonic()))
        if self.remaining is None and time.monotonic() >= self.deadline:
            return None
        return self.args.first + random.randrange(self.args.workspaces), random.randrange(self.args.users)

    def worker(self):
        connection, latencies, statuses = None, [], Counter()
        while (pair := self.next_pair()) is not None:
            body = event_body(*pair)
            headers = {"Content-Type": "application/json", **events.sign(body, self.args.secret)}
            started = time.perf_counter()
            try:
                connection = connection or http.client.HTTPConnection(self.host, self.port, timeout=30)
                connection.request("POST", self.path, body, headers)
                response = connection.getresponse()
                response.read()
                statuses[response.status] += 1
                latencies.append(time.perf_counter() - started)
            except (OSError, http.client.HTTPException) as error:
                statuses[type(error).__name__] += 1
                connection = None
        with self.lock:
            self.latencies += latencies
            self.statuses += statuses

    def run(self):
        self.started_at, self.started = time.time(), time.monotonic()
        self.deadline = self.started + self.args.seconds
        threads = [threading.Thread(target=self.worker) for _ in range(self.args.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        finished_at = time.time()
        ordered = sorted(self.latencies)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "started_at": self.started_at,
            "finished_at": finished_at,
            "sent": sum(self.statuses.values()),
            "ok": self.statuses.get(200, 0),
            "statuses": {str(status): count for status, count in self.statuses.items()},
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "latencies_ms": [round(1000 * latency, 2) for latency in ordered],
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True, help="the signing secret")
    parser.add_argument("--workspaces", type=int, required=True, help="events go to workspaces first..first+N-1")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--users", type=int, default=ids.USERS_PER_WORKSPACE)
    parser.add_argument("--first-person", type=int, default=0, help="with --each: skip the people before this one")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--count", type=int, help="send this many events, however long it takes (not --seconds)")
    parser.add_argument("--rate", type=float, help="events per second in all (default: as fast as answered)")
    parser.add_argument("--each", action="store_true", help="one event per (workspace, person), then stop")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    Path(args.out).write_text(json.dumps(Load(args).run()))


if __name__ == "__main__":
    main()
