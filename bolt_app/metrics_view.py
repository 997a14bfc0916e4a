"""`/metrics` for Prometheus, and the Django middleware that counts HTTP requests.

The metrics themselves are in `installations.metrics`. `/metrics` exists only when `METRICS_TOKEN`
is set (else a 404, like any unknown path) and answers only `Authorization: Bearer <METRICS_TOKEN>`.
"""

import time

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from bolt_app.health import bearer_matches
from installations import metrics as counted

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def metrics(request):
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if not bearer_matches(request, token):
        return HttpResponse(
            "A bearer token is required.\n", status=401, content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(counted.exposition(), content_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Django middleware: each request counted by route (its URL pattern's name, never the path:
    paths are unbounded) and status, and timed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.view_name if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        counted.HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        counted.HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
        return response
