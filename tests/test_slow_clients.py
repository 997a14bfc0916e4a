"""Slow clients (issue 14 item 1), on the deployed shape without Docker: gunicorn started from
config/gunicorn.py with production settings, behind nginx running deploy/nginx.conf.

Without the proxy, 64 connections that trickle their headers or body hold every gunicorn thread and
/healthz waits for them; behind it, /healthz answers at once and the slow requests are still served.
"""

import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.processes import ROOT, Gunicorn, free_port, self_signed_certificate, wait_ready
from tests import workers

NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")

pytestmark = [
    pytest.mark.skipif(not NGINX, reason="nginx is not installed (apt-get install nginx; .ci/run installs it)"),
    # About 15 s of servers and slow connections: once per CI run is enough.
    pytest.mark.skipif(not os.getenv("REDIS_URL"), reason="slow: runs on the PostgreSQL + Redis CI run only"),
]

SLOW_CLIENTS = 64
TRICKLE_EVERY = 0.5  # seconds between two pieces of a slow request
# A free server answers /healthz in milliseconds: these are generous.
PATIENCE = 5  # client timeout for /healthz through the proxy
HELD = 2  # how long /healthz is left waiting on gunicorn alone before the slow clients let go
# Its own connections: a kept one from tests.processes.http (its start-up checks) would skip gunicorn's queue.
session = requests.Session()
session.trust_env = False  # local servers: never through a proxy from the environment


# --- the deployed shape ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """gunicorn as production starts it (config/gunicorn.py: gthread, 8 threads a worker), 2 workers.
    No request here reads the database."""
    directory = tmp_path_factory.mktemp("app")
    env = workers.production_env(
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}", ALLOWED_HOSTS="127.0.0.1", RUN_SCHEDULER_IN_WEB="0",
        TASKS_IN_PROCESS="1", REDIS_URL=None, BROKER_URL=None, CACHE_DIR=str(directory / "cache"),
    )
    server = Gunicorn("app", env, ["-c", "config/gunicorn.py"], directory, 2)
    yield server
    server.stop()


class Nginx:
    """nginx running deploy/nginx.conf, changed only in where it listens, its upstream and its
    files (pid, logs, temp, certificate), all under a directory of its own."""

    SHIPPED = ROOT / "deploy" / "nginx.conf"

    def __init__(self, upstream_port):
        # nginx's workers run as an unprivileged user when the test runs as root: they must reach
        # the temp directories in here.
        self.dir = Path(tempfile.mkdtemp(prefix="slackhub-test-nginx-"))
        self.dir.chmod(0o755)
        for sub in ("log", "cache", "tls"):
            (self.dir / sub).mkdir(mode=0o755)
        self.http_port, self.https_port = free_port(), free_port()
        self.url, self.https_url = f"http://127.0.0.1:{self.http_port}", f"https://127.0.0.1:{self.https_port}"
        self.certificate = str(self.dir / "tls" / "fullchain.pem")
        # A self-signed certificate for 127.0.0.1, where the shipped file expects certbot's files.
        self_signed_certificate(self.dir / "tls" / "privkey.pem", self.certificate)
        config = self.dir / "nginx.conf"
        config.write_text(self.render({
            "http://web:8000": f"http://127.0.0.1:{upstream_port}",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen 443 ssl;": f"listen 127.0.0.1:{self.https_port} ssl;",
            "/var/run/nginx.pid": str(self.dir / "nginx.pid"),
            "/var/log/nginx/": f"{self.dir}/log/",
            "/var/cache/nginx/": f"{self.dir}/cache/",
            "/etc/nginx/tls/": f"{self.dir}/tls/",
        }))
        self.log = open(self.dir / "log" / "stderr.log", "ab")
        self.process = subprocess.Popen(
            [NGINX, "-c", str(config), "-p", str(self.dir), "-e", str(self.dir / "log" / "error.log"),
             "-g", "daemon off;"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise

    @classmethod
    def render(cls, changes):
        text = cls.SHIPPED.read_text()
        for shipped, local in changes.items():
            assert shipped in text, f"deploy/nginx.conf no longer contains {shipped!r}: update this test"
            text = text.replace(shipped, local)
        return text

    def _wait_ready(self, timeout=30):
        try:
            wait_ready(self.process, self.url, "nginx", timeout, every=0.1)
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {self.errors()}") from None

    def errors(self):
        return "\n".join(path.read_text(errors="replace")[-2000:] for path in (self.dir / "log").glob("*.log"))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def proxy(app):
    server = Nginx(app.port)
    yield server
    server.stop()


# --- slow clients ----------------------------------------------------------------------------------


class SlowRequest:
    """One connection sending its request a piece at a time (its headers one line at a time, or its
    body one byte at a time) until it is told to finish. It says X-Forwarded-Proto: https as the
    proxy would after TLS, else the app would redirect it before reading a body."""

    def __init__(self, port, slow_body, tls_ca=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if tls_ca:
            self.sock = ssl.create_default_context(cafile=tls_ca).wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.lines = itertools.count()
        if slow_body:
            body = b'{"type": "event_callback", "event": {"type": "app_mention", "text": "' + b"x" * 200 + b'"}}'
            self.sock.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
                b"Content-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
                + body[:1]
            )
            self.body = body[1:]
        else:
            self.sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            self.body = None

    def trickle(self):
        if self.body is None:
            self.sock.sendall(b"X-Trickle-%d: still sending\r\n" % next(self.lines))
        else:
            piece, self.body = self.body[:1], self.body[1:]
            self.sock.sendall(piece)

    def finish(self):
        """Send the rest; returns the status of the answer."""
        if self.body is None:
            self.sock.sendall(b"Host: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
        else:
            self.sock.sendall(self.body)
        answer = b""
        while chunk := self.sock.recv(65536):
            answer += chunk
        self.sock.close()
        return int(answer.split(b" ", 2)[1])


class SlowClients:
    """SLOW_CLIENTS connections, half trickling headers and half a body, kept trickling on a thread
    until `release()`."""

    def __init__(self, port, tls_ca=None):
        self.requests = [SlowRequest(port, number % 2 == 1, tls_ca) for number in range(SLOW_CLIENTS)]
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self):
        while not self.released.wait(TRICKLE_EVERY):
            for request in self.requests:
                request.trickle()

    def release(self):
        """Stop trickling and send every request's rest; returns the statuses they were answered with."""
        self.released.set()
        self.thread.join()
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(SlowRequest.finish, self.requests))


def health_check(url, timeout):
    return session.get(f"{url}/healthz", timeout=timeout).status_code


# --- the tests -------------------------------------------------------------------------------------


def test_the_need_for_the_proxy_slow_clients_hold_every_gunicorn_thread(app):
    """Documents why deploy/nginx.conf is required (README "Deploying"): straight at gunicorn, the
    slow connections take every thread, and /healthz is answered only once they let go.

    If this starts failing, gunicorn copes with slow clients by itself: the proxy still buffers, but
    this demonstration of the need is out of date."""
    slow = SlowClients(app.port)
    with ThreadPoolExecutor(1) as pool:
        health = pool.submit(health_check, app.url, 60)
        answered_while_held = health in wait([health], timeout=HELD).done
        statuses = slow.release()
        status = health.result()

    assert not answered_while_held, "/healthz was answered while the slow clients held on"
    assert status == 200  # once they let go
    assert sorted(set(statuses)) == [200, 401]  # /healthz, and /slack/events refusing an unsigned body


def test_behind_the_proxy_slow_clients_take_nothing_from_anyone(app, proxy):
    slow = SlowClients(proxy.https_port, tls_ca=proxy.certificate)
    try:
        statuses = [health_check(proxy.url, PATIENCE) for _ in range(3)]
        trickling = slow.thread.is_alive()  # every slow connection still open and sending
    finally:
        slow_statuses = slow.release()

    assert statuses == [200, 200, 200]
    assert trickling
    # Held by the proxy, not dropped: each slow request reached the app once it was whole.
    assert sorted(set(slow_statuses)) == [200, 401]


def test_proxy_refuses_a_body_larger_than_the_app_accepts(app, proxy):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    headers = {"Content-Type": "application/json"}

    too_large = session.post(f"{proxy.https_url}/slack/events", data=b"x" * (limit + 1), headers=headers,
                              verify=proxy.certificate, timeout=30)
    largest = session.post(f"{proxy.https_url}/slack/events", data=b"x" * limit, headers=headers,
                            verify=proxy.certificate, timeout=30)

    assert too_large.status_code == 413
    assert largest.status_code == 401  # reached the app, which refuses an unsigned body


def test_proxy_tells_the_app_the_scheme_and_a_forged_one_is_overwritten(app, proxy):
    forged = {"X-Forwarded-Proto": "https"}

    plain = session.get(f"{proxy.url}/no-such-page", headers=forged, allow_redirects=False, timeout=10)
    secure = session.get(f"{proxy.https_url}/no-such-page", verify=proxy.certificate, timeout=10)

    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")  # SECURE_SSL_REDIRECT
    assert secure.status_code == 404


class HeaderEcho(BaseHTTPRequestHandler):
    """An upstream that answers with the headers the proxy sent it."""

    def do_GET(self):
        names = ("Host", "X-Forwarded-For", "X-Forwarded-Proto")
        body = json.dumps({name: self.headers.get_all(name) for name in names})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def test_proxy_appends_the_client_address_and_overwrites_the_scheme():
    """What the app trusts (bolt_app/throttle.py: the last X-Forwarded-For entry; Django:
    X-Forwarded-Proto) is what the proxy wrote, whatever the client sent."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), HeaderEcho)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    proxy = Nginx(upstream.server_address[1])
    forged = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    try:
        plain = session.get(f"{proxy.url}/", headers=forged, timeout=10).json()
        secure = session.get(f"{proxy.https_url}/", headers={**forged, "X-Forwarded-Proto": "http"},
                             verify=proxy.certificate, timeout=10).json()
    finally:
        proxy.stop()
        upstream.shutdown()
        upstream.server_close()

    assert plain["X-Forwarded-For"] == ["198.51.100.7, 127.0.0.1"]
    assert plain["X-Forwarded-Proto"] == ["http"]
    assert secure["X-Forwarded-Proto"] == ["https"]
    assert plain["Host"] == [f"127.0.0.1:{proxy.http_port}"]  # the port kept: redirect URIs are built from it
