import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from taskmanager.metrics import HTTP_LATENCY, HTTP_REQUESTS


class MetricsMiddleware:
    """Counts every HTTP response by view, method and status, and times it.

    The view is the URL pattern's name, never the path: ids in paths would make a
    series per object. Requests no pattern matched count under "unmatched".
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = (match.view_name or match._func_path) if match else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_LATENCY.labels(view=view, method=method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(view=view, method=method, status=str(response.status_code)).inc()
        return response


# Anything else is one label value, so a client cannot mint series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
