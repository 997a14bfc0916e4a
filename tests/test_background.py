"""Background work in one process (the default without a broker, and `make run`): events and
schedule ticks go through Dramatiq to worker threads, once each; a broker outage moves the work into
the web process and back; failures and schedules reach the admin. Real processes: test_background_processes.py."""

import logging
import shutil
import socket
import subprocess
import time

import dramatiq
import pytest
import redis
from django.contrib.auth.models import User
from dramatiq.brokers.redis import RedisBroker

from background import scheduler
from background.middleware import Bookkeeping
from background.models import FailedMessage, Schedule
from plugins import claims, dispatch, tasks
from sandbox import events
from sandbox.models import Message
from tests.helpers import install, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
PLUGIN = "tests.background_plugins.BackgroundPlugin"
ACME = {"enterprise_id": None, "team_id": "T0ACME0001", "is_enterprise_install": False, "user_id": "U0ACME0002"}


@pytest.fixture
def app(slack, settings, browser):
    settings.PLUGINS = ["tests.background_plugins"]
    assert install(browser, slack).status_code == 200
    return slack


def job(number):
    body = events.event_callback_body("T0ACME0001", events.message("T0ACME0001", "U0ACME0002", "C0ACMEGEN1", f"job {number}"))
    return body, f"event:{body['event_id']}"


def replies(text):
    return Message.objects.filter(text=text).exclude(bot_id="").count()


def test_each_event_is_handled_by_a_worker_once_whatever_the_deliveries(app):
    first, key = job(1)
    tasks.enqueue(first, ACME, key)
    tasks.enqueue(first, ACME, key)  # Slack's retry, or the same message delivered again
    second, other_key = job(2)
    tasks.enqueue(second, ACME, other_key)

    assert wait_for(lambda: replies("done 2") == 1 and replies("done 1") >= 1)
    tasks.enqueue(first, ACME, key)  # later still
    third, third_key = job(3)
    tasks.enqueue(third, ACME, third_key)
    assert wait_for(lambda: replies("done 3") == 1)
    assert replies("done 1") == 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker_down(monkeypatch, settings):
    """The event actor on a Redis broker whose server is not running (yet): returns a function
    that starts it."""
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    broker = RedisBroker(url=f"{url}?socket_connect_timeout=1", namespace="outage-test")
    broker.declare_actor(tasks.handle_event)
    monkeypatch.setattr(tasks.handle_event, "broker", broker)
    monkeypatch.setattr(settings, "BROKER_URL", url, raising=False)
    monkeypatch.setattr(claims, "BROKER_RETRY_SECONDS", 0.5)
    state = claims.BrokerState()
    monkeypatch.setattr(tasks, "_broker", state)
    monkeypatch.setattr(claims, "broker_state", state)
    monkeypatch.setattr(claims, "_claims", lambda: broker.client)  # claims live in the broker's Redis
    servers = []

    def start():
        servers.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        assert wait_for(lambda: _pings(broker.client))
        return broker

    yield start
    for server in servers:
        server.terminate()
        server.wait()


def _pings(client):
    try:
        return client.ping()
    except redis.RedisError:
        return False


def test_with_the_broker_down_events_are_handled_in_the_web_process_with_one_warning(app, broker_down, caplog):
    caplog.set_level(logging.INFO, logger="slackhub.tasks")
    for number in (1, 2, 3):
        body, key = job(number)
        tasks.enqueue(body, ACME, key)
        time.sleep(0.2)
    assert wait_for(lambda: all(replies(f"done {n}") == 1 for n in (1, 2, 3)))
    outages = [r for r in caplog.records if r.levelno == logging.WARNING and "Broker unavailable" in r.getMessage()]
    assert len(outages) == 1
    assert tasks.broker_status() == {"broker": "redis", "ok": False}

    # Redis is back: without a restart, the next events go through the broker again.
    broker = broker_down()
    assert wait_for(lambda: tasks.broker_status()["ok"])
    body, key = job(4)
    tasks.enqueue(body, ACME, key)
    assert broker.client.llen("outage-test:default") == 1  # queued for a worker, not run here
    assert any("Broker available again" in r.getMessage() for r in caplog.records)


def test_with_the_broker_down_a_mention_is_still_answered_once(app, broker_down, settings, monkeypatch, caplog):
    """Slack sends a channel mention twice (`message` and `app_mention`); the claim that keeps it to one
    reply lives in the broker's Redis, so while it is down the web process claims on its own."""
    from sandbox.ids import bot_user_id

    settings.PLUGINS = ["plugins.builtin.greeting"]
    settings.TASKS_FALLBACK_THREADS = 1  # the web process handles them in order: the last answered, all were
    monkeypatch.setattr(tasks, "_fallback", {})
    text = f"<@{bot_user_id('T0ACME0001')}> hello"
    said = events.message("T0ACME0001", "U0ACME0002", "C0ACMEGEN1", text)
    mentioned = events.app_mention("T0ACME0001", "U0ACME0002", "C0ACMEGEN1", text, ts=said["ts"])
    later = events.app_mention("T0ACME0001", "U0ACME0003", "C0ACMEGEN1", text)
    for event in (said, mentioned, later):
        body = events.event_callback_body("T0ACME0001", event)
        tasks.enqueue(body, ACME, f"event:{body['event_id']}")

    def greeted(user):
        return Message.objects.filter(text__contains=f"<@{user}>").exclude(bot_id="").count()

    assert wait_for(lambda: greeted("U0ACME0003") == 1)
    assert greeted("U0ACME0002") == 1
    assert len([r for r in caplog.records if "Broker unavailable" in r.getMessage()]) == 1  # one per outage


def test_a_schedule_tick_runs_once_in_each_active_workspace(app, browser, slack):
    assert install(browser, slack, target="T0GLOBEX01", user="T0GLOBEX01:U0GLOBEX01").status_code == 200
    tick = "2026-01-01T10:00:00+00:00"
    tasks.schedule_tick.send(PLUGIN, "tick", tick)
    tasks.schedule_tick.send(PLUGIN, "tick", tick)  # a second scheduler, or a redelivered tick
    tasks.schedule_tick.send(PLUGIN, "tick", "2026-01-01T10:00:04+00:00")

    def ticks(team_id):
        return Message.objects.filter(text="tick", workspace__team_id=team_id).count()

    assert wait_for(lambda: ticks("T0ACME0001") == 2 and ticks("T0GLOBEX01") == 2)
    tasks.schedule_tick.send(PLUGIN, "tick", "2026-01-01T10:00:08+00:00")
    assert wait_for(lambda: ticks("T0ACME0001") == 3 and ticks("T0GLOBEX01") == 3)


def test_the_admin_shows_each_schedule_with_its_runs(app, client):
    scheduler.register(scheduler.jobs())
    tasks.schedule_tick.send(PLUGIN, "tick", "2026-01-01T10:00:00+00:00")
    row = Schedule.objects.get(name=f"{PLUGIN}.tick")
    assert (row.plugin, row.method, row.timetable) == (PLUGIN, "tick", "second=*/4")
    assert row.next_run_at is not None
    assert wait_for(lambda: Schedule.objects.get(pk=row.pk).last_run_at is not None)

    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    page = client.get("/admin/background/schedule/")
    assert page.status_code == 200
    text = page.content.decode()
    for expected in (PLUGIN, "second=*/4", "refresh_tokens", "*/10 * * * *", "purge_oauth_states"):
        assert expected in text


def test_a_method_with_two_timetables_is_one_schedule_showing_both_and_the_sooner_run(settings):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    settings.PLUGINS = ["tests.schedule_examples.ZonedPlugin"]
    found = {job.name: job for job in scheduler.jobs()}
    scheduler.register(list(found.values()))

    def next_at(hour, minute, zone=ZoneInfo("Europe/Paris")):
        now = datetime.now(zone)
        at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return at if at > now else at + timedelta(days=1)

    soonest = min(next_at(9, 0), next_at(12, 30))
    row = Schedule.objects.get(name="tests.schedule_examples.ZonedPlugin.twice")
    assert "hour=9" in row.timetable and "hour=12" in row.timetable
    assert row.next_run_at == soonest

    scheduler.fire(found[row.name])  # a run of it: the next one is again the soonest of both
    assert Schedule.objects.get(pk=row.pk).next_run_at == soonest


def test_a_message_that_fails_for_good_is_shown_with_its_workspace_and_can_be_sent_again(app, client, monkeypatch):
    handled = []

    def broken(body, workspace):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(dispatch, "handle", broken)
    body, key = job(7)
    tasks.handle_event.send_with_options(args=(body, ACME, key), max_retries=0)
    failed = wait_for(lambda: FailedMessage.objects.filter(actor="handle_event").first())
    assert failed and failed.team_id == "T0ACME0001" and "database unreachable" in failed.error

    monkeypatch.setattr(dispatch, "handle", lambda body, workspace: handled.append(body["event_id"]))
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    page = client.get("/admin/background/failedmessage/")
    assert "T0ACME0001" in page.content.decode()
    client.post("/admin/background/failedmessage/", {"action": "retry", "_selected_action": [failed.pk]})
    assert wait_for(lambda: handled == [body["event_id"]])
    assert FailedMessage.objects.get(pk=failed.pk).retried_at is not None


def test_bookkeeping_makes_no_query_for_a_message_that_succeeds(django_assert_num_queries):
    keeper = Bookkeeping()
    event = dramatiq.Message("default", "handle_event", ({}, ACME, "event:Ev1"), {}, {})
    run = dramatiq.Message("default", "run_scheduled", (PLUGIN, "tick", ACME, "t"), {}, {})
    tick = dramatiq.Message("default", "schedule_tick", (PLUGIN, "tick", "t"), {}, {})
    with django_assert_num_queries(0):
        keeper.after_process_message(None, event, result=None)
        keeper.after_process_message(None, run, result=None)
    with django_assert_num_queries(1):  # the tick's last run, once per tick (not per workspace)
        keeper.after_process_message(None, tick, result=None)


def test_a_plugin_timetable_with_its_own_zone_is_kept_and_a_broken_one_costs_only_itself(settings, caplog):
    settings.PLUGINS = ["tests.schedule_examples.ZonedPlugin"]

    with caplog.at_level(logging.ERROR, logger="slackhub.scheduler"):
        found = {job.name: job for job in scheduler.jobs()}

    morning = found["tests.schedule_examples.ZonedPlugin.morning"]
    assert str(morning.trigger.timezone) == "Europe/Paris"
    assert "tests.schedule_examples.ZonedPlugin.never" not in found
    assert {"refresh_tokens", "purge_oauth_states", "purge_storage"} <= set(found)  # the service's jobs stay
    assert [r for r in caplog.records if "ZonedPlugin.never" in r.getMessage() and "skipped" in r.getMessage()]


def test_a_tick_that_fires_late_is_the_same_tick_in_every_scheduler():
    """Two schedulers (one taking over, one busy) may fire the same tick seconds apart: both must name
    it by its scheduled time, or the per-workspace claim would let each run it."""
    from datetime import datetime, timedelta, timezone

    from apscheduler.triggers.cron import CronTrigger

    every_minute = CronTrigger.from_crontab("* * * * *", timezone=timezone.utc)
    due = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)

    names = {scheduler.tick_of(every_minute, due + timedelta(seconds=late)) for late in (0.004, 1.5, 12, 29)}

    assert names == {due}
    assert scheduler.tick_of(every_minute, due + timedelta(seconds=61)) == due + timedelta(minutes=1)
