"""Slack Web API calls over kept-alive connections.

slack_sdk's `WebClient` sends each call with `urllib.request.urlopen`, which opens a new connection
and closes it after one request (urllib sends `Connection: close`). A worker answering events then
pays a TCP connect (and, against slack.com, a TLS handshake) per reply: in `make bench-background`
that was a third of a worker's CPU per event. `PooledWebClient` sends the same request through one
urllib3 pool per process, which keeps connections to Slack open between calls.

Everything above the socket stays slack_sdk's: the request it built, its retry handlers (a dropped
connection is retried once, a 429 waited out), its response parsing. Transport errors are raised as
urllib's (`URLError`, or `HTTPError` for a status of 400 and above), so those handlers see what they
would have seen from urllib.
"""

import http.client
import io
import os
import threading
from urllib.error import HTTPError, URLError

import urllib3
from slack_sdk import WebClient

# Connections kept per host: a worker process's threads and the web process's calls.
POOL_SIZE = 32
_pools = {}
_lock = threading.Lock()


def _pool() -> urllib3.PoolManager:
    """This process's pool (a forked process builds its own: sockets are not shared across a fork)."""
    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is None:
        with _lock:
            pool = _pools.get(pid)
            if pool is None:
                _pools.clear()
                pool = _pools[pid] = urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE)
    return pool


class PooledWebClient(WebClient):
    """slack_sdk's `WebClient`, its requests sent on kept-alive connections (see the module's doc).
    With a proxy or a custom SSL context, slack_sdk's own urllib path is used."""

    def _perform_urllib_http_request_internal(self, url, req):
        if self.proxy is not None or self.ssl is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)
        try:
            response = _pool().request(
                "POST", url, body=req.data, headers={name: str(value) for name, value in req.header_items()},
                timeout=self.timeout, retries=False, redirect=False,
            )
        except urllib3.exceptions.HTTPError as error:  # connect, read or protocol: slack_sdk retries these once
            raise URLError(error.__context__ or error) from error
        headers = http.client.HTTPMessage()
        for name, value in response.headers.items():
            headers[name] = value
        if response.status >= 400:
            raise HTTPError(url, response.status, response.reason, headers, io.BytesIO(response.data))
        if headers.get_content_type() == "application/gzip":  # admin.analytics.getFile
            return {"status": response.status, "headers": headers, "body": response.data}
        return {"status": response.status, "headers": headers, "body": response.data.decode(headers.get_content_charset() or "utf-8")}
