"""Slack's Web API as the app sees it during the bench: the sandbox, with replies made cheap.

The app's SLACK_API_URL points here. Every call is passed on to the sandbox (which checks the token
and channel and records it in `sandbox.models.ApiCall`), except, in "fast" mode, `chat.postMessage`:
answered here as Slack answers it and only counted. The sandbox is a Django app sharing the bench's
two CPUs; a reply costs it about twice the CPU the app spends on the whole event, so with every reply
going through it the app is never the bottleneck and every target measures the sandbox instead.

`POST /mode?fast=1|0` switches; `GET /counts` returns the calls seen, per mode and method.
"""

import argparse
import http.client
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAST_METHODS = ("chat.postMessage",)


class State:
    def __init__(self, sandbox_url):
        self.sandbox = urlsplit(sandbox_url)
        self.fast = False
        self.counts = {"fast": Counter(), "forwarded": Counter()}
        self.last_fast_at = None
        self.lock = threading.Lock()

    def count(self, mode, method):
        with self.lock:
            self.counts[mode][method] += 1
            if mode == "fast":
                self.last_fast_at = time.time()


class Handler(BaseHTTPRequestHandler):
    state: State
    protocol_version = "HTTP/1.1"  # connections kept alive between calls, as slack.com does
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall between them

    def log_message(self, *args):
        pass

    def reply(self, status, body: bytes, content_type="application/json; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/counts":
            with self.state.lock:
                counts = {mode: dict(counter) for mode, counter in self.state.counts.items()}
                counts["last_fast_at"] = self.state.last_fast_at
            return self.reply(200, json.dumps(counts).encode())
        self.forward("GET", b"")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        if url.path == "/mode":
            self.state.fast = parse_qs(url.query).get("fast") == ["1"]
            return self.reply(200, b'{"ok": true}')
        method = url.path.rsplit("/", 1)[-1]
        if self.state.fast and method in FAST_METHODS:
            return self.answer_post_message(body)
        self.forward("POST", body)

    def answer_post_message(self, body):
        if "json" in (self.headers.get("Content-Type") or ""):
            params = json.loads(body or b"{}")
        else:
            params = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        ts = f"{time.time():.6f}"
        self.state.count("fast", "chat.postMessage")
        message = {"type": "message", "text": params.get("text", ""), "ts": ts}
        self.reply(200, json.dumps({"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}).encode())

    def forward(self, verb, body):
        self.state.count("forwarded", urlsplit(self.path).path.rsplit("/", 1)[-1])
        sandbox = http.client.HTTPConnection(self.state.sandbox.hostname, self.state.sandbox.port, timeout=30)
        headers = {name: value for name, value in self.headers.items() if name.lower() in ("authorization", "content-type")}
        sandbox.request(verb, self.path, body, headers)
        answer = sandbox.getresponse()
        self.reply(answer.status, answer.read(), answer.getheader("Content-Type", "application/json"))
        sandbox.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sandbox", required=True, help="the sandbox's base URL")
    args = parser.parse_args()
    Handler.state = State(args.sandbox)
    ThreadingHTTPServer.request_queue_size = 256  # the listen backlog: bursts of new connections (urllib: one per call)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
