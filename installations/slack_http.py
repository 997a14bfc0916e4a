"""Slack Web API calls over kept-alive connections.

slack_sdk's `WebClient` sends each call with `urllib.request.urlopen`, which opens a new connection
and closes it after one request (urllib sends `Connection: close`). A worker answering events then
pays a TCP connect, and against slack.com a TLS handshake and its round trips, for every reply.
`PooledWebClient` sends the same request on a connection its thread keeps open, with the standard
library's `http.client` (what urllib uses underneath).

Written by hand, not with urllib3: measured in `make bench-background`, urllib3's pool cost the
worker more CPU per call (0.43–0.50 ms) than urllib's new connection (0.40–0.46 ms), while a kept
`http.client` connection costs 0.28–0.31 ms.

Everything above the socket stays slack_sdk's: the request it built, its retry handlers (a dropped
connection retried once, a 429 waited out), its response parsing. Errors are raised as urllib raises
them (`URLError` for a connection that could not be made, `HTTPError` for a status of 400 and above),
so those handlers see what they would have seen. A kept connection that Slack closed while it was
idle is noticed before it is used (or, in a race, when sending fails or Slack closes it before a
byte of an answer) and the request is sent once on a new one; never after Slack may have read it.
"""

import http.client
import io
import os
import select
import ssl
import threading
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient

_local = threading.local()
_tls = {}
# Sending on a kept connection the server has closed.
_STALE = (ConnectionResetError, BrokenPipeError)


class _Unsent(Exception):
    """The request never reached Slack on a kept connection that Slack had closed: it is sent once
    more on a new one. Anything after Slack may have read it (a reset while the answer comes, a
    timeout) is raised, and only slack_sdk's own retry handlers may send it again, as with urllib."""


def _tls_context() -> ssl.SSLContext:
    """urllib's default: certificates verified against the system's store."""
    if "context" not in _tls:
        _tls["context"] = ssl.create_default_context()
    return _tls["context"]


def _connection(scheme, host, port, timeout) -> http.client.HTTPConnection:
    """This thread's connection to `host` (a forked process opens its own)."""
    if getattr(_local, "pid", None) != os.getpid():
        _local.pid, _local.connections = os.getpid(), {}
    key = (scheme, host, port, timeout)
    connection = _local.connections.get(key)
    if connection is None:
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        _local.connections[key] = connection
    return connection


def _closed_by_peer(sock) -> bool:
    """An idle kept connection is readable only when the server closed it (or sent what it should not)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class PooledWebClient(WebClient):
    """slack_sdk's `WebClient`, its requests sent on kept-alive connections (see the module's doc).
    With a proxy or a custom SSL context, slack_sdk's own urllib path is used."""

    def _perform_urllib_http_request_internal(self, url, req):
        parts = urlsplit(url)
        if self.proxy is not None or self.ssl is not None or parts.scheme.lower() not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(req.header_items())
        connection = _connection(parts.scheme.lower(), parts.hostname, parts.port, self.timeout)
        while True:
            reused = connection.sock is not None
            if reused and _closed_by_peer(connection.sock):
                connection.close()
                reused = False
            try:
                try:
                    connection.request("POST", target, body=req.data, headers=headers)
                except OSError as error:
                    if reused and isinstance(error, _STALE):
                        raise _Unsent from error
                    raise URLError(error) from error
                try:
                    response = connection.getresponse()
                except http.client.RemoteDisconnected as error:
                    if reused:  # closed while idle, before a byte of an answer: the request was not read
                        raise _Unsent from error
                    raise
                body = response.read()
                break
            except _Unsent:
                connection.close()  # and once more, on a new connection
            except BaseException:
                connection.close()
                raise
        if not 200 <= response.status < 300:  # as urllib (Slack's Web API does not redirect)
            raise HTTPError(url, response.status, response.reason, response.headers, io.BytesIO(body))
        if response.headers.get_content_type() == "application/gzip":  # admin.analytics.getFile
            return {"status": response.status, "headers": response.headers, "body": body}
        return {"status": response.status, "headers": response.headers,
                "body": body.decode(response.headers.get_content_charset() or "utf-8")}
