"""Background work with real processes on PostgreSQL + Redis: Dramatiq worker processes
(`manage.py rundramatiq`), each test with a redis-server of its own as the broker (AOF in a
temporary directory; the shared Redis is never restarted)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from bench.servers import ROOT, free_port
from sandbox.models import Message
from tests import workers
from tests.conftest import install, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (os.getenv("REDIS_URL") and os.getenv("DATABASE_URL", "").startswith("postgres")),
                       reason="real worker processes: the PostgreSQL + Redis run"),
]


class RedisServer:
    """A redis-server on a free port, appending every write to a file in `directory`."""

    def __init__(self, directory, appendonly=True):
        self.directory, self.appendonly, self.port = directory, appendonly, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        assert wait_for(lambda: _pings(client), timeout=20)

    def restart(self):
        self.process.terminate()  # SIGTERM: Redis writes what it holds, as a deploy's restart does
        self.process.wait(timeout=30)
        self.start()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _pings(client):
    try:
        return client.ping()
    except redis.RedisError:
        return False


class Worker:
    """`manage.py rundramatiq` (a dramatiq master and its worker process), in a session of its own
    so the whole group can be killed."""

    def __init__(self, env, log_dir, threads=4):
        self.log = open(log_dir / f"worker-{time.monotonic_ns()}.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", str(threads), "--skip-logging"],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self, sig=signal.SIGKILL):
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=60)
        self.log.close()


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def env(slack, settings, tmp_path, browser, broker):
    workers.shared_cache(settings, tmp_path)
    settings.PLUGINS = ["tests.background_plugins"]
    assert install(browser, slack).status_code == 200
    return workers.environment(
        slack, BROKER_URL=broker.url, TASKS_IN_PROCESS="0", PLUGINS="tests.background_plugins",
        DRAMATIQ_NAMESPACE="slackhub-test-tasks",
    )


@pytest.fixture
def started(tmp_path):
    running = []

    def start(env, **kwargs):
        running.append(Worker(env, tmp_path, **kwargs))
        return running[-1]

    yield start
    for worker in running:
        worker.kill(signal.SIGTERM)


def enqueue_jobs(env, numbers):
    """Events sent to the broker from another process, as the web process sends them."""
    workers.run_script(
        "from plugins.tasks import enqueue\nfrom sandbox import events\n"
        "ws = {'enterprise_id': None, 'team_id': 'T0ACME0001', 'is_enterprise_install': False, 'user_id': 'U0ACME0002'}\n"
        f"for n in {list(numbers)!r}:\n"
        "    body = events.event_callback_body('T0ACME0001', events.message('T0ACME0001', 'U0ACME0002', 'C0ACMEGEN1', f'job {n}'))\n"
        "    enqueue(body, ws, 'event:' + body['event_id'])\n",
        env,
    )


def answered(numbers):
    counts = {n: 0 for n in numbers}
    for text in Message.objects.filter(text__startswith="done ").exclude(bot_id="").values_list("text", flat=True):
        number = int(text.split()[1])
        if number in counts:
            counts[number] += 1
    return counts


def test_messages_queued_in_the_broker_survive_its_restart(env, broker, started):
    numbers = range(1, 31)
    enqueue_jobs(env, numbers)  # no worker yet: all 30 wait in Redis
    broker.restart()
    started(env)

    assert wait_for(lambda: all(answered(numbers).values()), timeout=90)
    assert set(answered(numbers).values()) == {1}


def test_what_a_killed_worker_held_is_redelivered_and_answered_once(env, started):
    env = {**env, "BACKGROUND_TEST_JOB_SECONDS": "1.5", "BROKER_HEARTBEAT_TIMEOUT_SECONDS": "10"}
    numbers = range(1, 41)
    enqueue_jobs(env, numbers)
    first = started(env)
    assert wait_for(lambda: sum(answered(numbers).values()) >= 4, timeout=60)
    first.kill()  # SIGKILL mid-work: 4 jobs in progress, more prefetched, none acked
    started(env)

    assert wait_for(lambda: all(answered(numbers).values()), timeout=120)
    assert set(answered(numbers).values()) == {1}
