"""Request ids and the access log.

Every HTTP request and WebSocket connection gets an id: the client's (or nginx's)
`X-Request-ID` when it is a sane token, a fresh one otherwise. It is returned on
the response and put on every log record written while the request is handled,
through a context variable that Django's threads and asgiref's hops both carry.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from channels.middleware import BaseMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a few separators, as nginx's $request_id, UUIDs and most
# tracing ids are; anything else (a log-injection attempt, a megabyte) is replaced.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

# Where the id also rides on the request, for the records Django writes after the
# middleware has returned ("Internal Server Error: ...").
REQUEST_ID_META = "taskmanager.request_id"

# A path that is itself a credential: a calendar feed's (exports.page_urls), whose
# token is the whole of its authentication. Whatever follows /calendar/ is hidden,
# a mistyped or rotated token included.
_SECRET_PATH = re.compile(r"/calendar/.+?(?P<suffix>\.ics)?", re.DOTALL)

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

access_logger = logging.getLogger("taskmanager.access")


def request_id_for(presented: str | None) -> str:
    if presented and _ACCEPTED_ID.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = current_request_id.get()
            if request_id is None:
                meta = getattr(getattr(record, "request", None), "META", None)
                request_id = meta.get(REQUEST_ID_META) if isinstance(meta, dict) else None
            record.request_id = request_id
        return True


class RequestLogMiddleware:
    """Outermost: gives the request its id, returns it, and writes one access line.

    The line has the path without its query string: query strings may carry
    credentials (a WebSocket `?token=`) or personal search terms; and a calendar
    feed's path without its token (`loggable_path`).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.META.get("HTTP_X_REQUEST_ID"))
        request.META[REQUEST_ID_META] = request_id
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if not access_logger.isEnabledFor(logging.INFO):
                return response
            path = loggable_path(request.path)
            access_logger.info(
                "%s %s %s",
                request.method,
                path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": _user_id(request),
                },
            )
            return response
        finally:
            current_request_id.reset(token)


def loggable_path(path: str) -> str:
    """The path as the access log writes it: a calendar feed's token redacted."""
    secret = _SECRET_PATH.fullmatch(path)
    if secret is None:
        return path
    return f"/calendar/<redacted>{secret['suffix'] or ''}"


def _user_id(request: HttpRequest) -> int | None:
    # DRF replaces Django's lazy user with the authenticated one; a lazy user no
    # one looked at stays unevaluated here (no session query just for the log).
    user: Any = request.__dict__.get("user")
    # django-stubs does not declare LazyObject._wrapped.
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):  # type: ignore[attr-defined]
        return None
    return user.pk if user.is_authenticated else None


class WebSocketRequestIdMiddleware(BaseMiddleware):
    """The same id for a WebSocket connection: in the scope, on the handshake's
    response (the consumer accepts with it) and on every record the connection logs."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", ()))
        presented = headers.get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = request_id_for(presented)
        token = current_request_id.set(request_id)
        try:
            return await super().__call__({**scope, "request_id": request_id}, receive, send)
        finally:
            current_request_id.reset(token)
