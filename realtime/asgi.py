"""The ASGI applications around Django's (`taskmanager.asgi` builds Django's first,
then imports this): `application` serves HTTP and WebSocket from one process (the
embedded `make run`); `socket_application` is the WebSocket process of the production
layouts (`make serve`, docker-compose): `/ws/` and `/monitoring/` only, every other
HTTP path a 404 in the API's error shape, so the socket port is no second door to the
API. The socket process runs under uvicorn (realtime.socket_server) or daphne
(realtime.server); its HTTP request bodies are bounded here as well as by daphne, so
under either it reads at most HTTP_MAX_BODY_BYTES of one."""

import gc
from collections.abc import Awaitable, Callable
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.urls import re_path

from monitoring.logs import WebSocketRequestIdMiddleware
from realtime.authentication import (
    CLOSE_NOT_FOUND,
    SocketAuthMiddleware,
    SocketRefusal,
    browser_origin_validator,
)
from realtime.routing import websocket_urlpatterns
from taskmanager.exceptions import NOT_FOUND_MESSAGE, PAYLOAD_TOO_LARGE_MESSAGE, error_json
from taskmanager.startup import settle

SOCKET_PROCESS_HTTP_PREFIXES = ("/monitoring/",)
NOT_FOUND = error_json("not_found", NOT_FOUND_MESSAGE)
TOO_LARGE = error_json("payload_too_large", PAYLOAD_TOO_LARGE_MESSAGE)
# Garbage-collector thresholds for a process holding thousands of long-lived sockets:
# young collections rare enough that one event's fan-out dies young, old ones still
# considered often enough to reclaim closed sockets (docs/decisions/socket-process-gc.md).
SOCKET_SERVER_THRESHOLDS = (50_000, 1, 1)


def websocket_application() -> Any:
    # A path that is no socket: `not_found` and close 4404, where Channels' router
    # raised (an empty HTTP 500 at the handshake and a traceback). Channels routes
    # ASGI apps through Django's re_path, whose stub takes views only.
    refusal = SocketRefusal("not_found", NOT_FOUND_MESSAGE, CLOSE_NOT_FOUND)
    no_such_socket = re_path(r"", refusal)  # type: ignore[arg-type]
    return WebSocketRequestIdMiddleware(
        browser_origin_validator(
            SocketAuthMiddleware(URLRouter([*websocket_urlpatterns, no_such_socket]))
        )
    )


async def answer(send: Any, status: int, body: bytes, close: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def bounded_body(scope: dict[str, Any], receive: Any) -> bytes | None:
    """The request's body, read whole if it is at most HTTP_MAX_BODY_BYTES; None (and
    no more of it read) past that, from its Content-Length or as soon as it passes.
    uvicorn, unlike realtime.server's daphne, would hand any length on."""
    limit = settings.HTTP_MAX_BODY_BYTES
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and (not value.isdigit() or int(value) > limit):
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A `receive` that gives `body` once (already read), then the server's own."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive_again() -> dict[str, Any]:
        if pending:
            return pending.pop()
        return dict(await receive())

    return receive_again


def applications(django_app: Any) -> tuple[ProtocolTypeRouter, ProtocolTypeRouter]:
    """`application` and `socket_application` around Django's ASGI app."""
    websocket_app = websocket_application()

    async def socket_process_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """HTTP on the socket process: a body past HTTP_MAX_BODY_BYTES a 413 (and the
        connection closed), monitoring through Django, the rest a 404."""
        body = await bounded_body(scope, receive)
        if body is None:
            await answer(send, 413, TOO_LARGE, close=True)
            return
        if scope["path"].startswith(SOCKET_PROCESS_HTTP_PREFIXES):
            await django_app(scope, replaying(body, receive), send)
            return
        await answer(send, 404, NOT_FOUND)

    return (
        ProtocolTypeRouter({"http": django_app, "websocket": websocket_app}),
        ProtocolTypeRouter({"http": socket_process_http, "websocket": websocket_app}),
    )


def settle_socket_server() -> None:
    """What a socket process does before its first connection: the `settle` of every
    server process, then the collector's thresholds for many long-lived sockets."""
    settle()
    gc.set_threshold(*SOCKET_SERVER_THRESHOLDS)
