"""The ASGI applications around Django's (`taskmanager.asgi` builds Django's first,
then imports this): `application` serves HTTP and WebSocket from one process (the
embedded `make run`); `socket_application` is the WebSocket process of the production
layouts (`make serve`, docker-compose): `/ws/` and `/monitoring/` only, every other
HTTP path a 404 in the API's error shape, so the socket port is no second door to the
API."""

import gc
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

from monitoring.logs import WebSocketRequestIdMiddleware
from realtime.authentication import (
    CLOSE_NOT_FOUND,
    SocketAuthMiddleware,
    SocketRefusal,
    browser_origin_validator,
)
from realtime.routing import websocket_urlpatterns
from taskmanager.exceptions import NOT_FOUND_MESSAGE, error_json
from taskmanager.startup import settle

SOCKET_PROCESS_HTTP_PREFIXES = ("/monitoring/",)
NOT_FOUND = error_json("not_found", NOT_FOUND_MESSAGE)
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


def applications(django_app: Any) -> tuple[ProtocolTypeRouter, ProtocolTypeRouter]:
    """`application` and `socket_application` around Django's ASGI app."""
    websocket_app = websocket_application()

    async def socket_process_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """HTTP on the socket process: monitoring through Django, the rest a 404
        without reading the body (the server has already bounded it)."""
        if scope["path"].startswith(SOCKET_PROCESS_HTTP_PREFIXES):
            await django_app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(NOT_FOUND)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": NOT_FOUND})

    return (
        ProtocolTypeRouter({"http": django_app, "websocket": websocket_app}),
        ProtocolTypeRouter({"http": socket_process_http, "websocket": websocket_app}),
    )


def settle_socket_server() -> None:
    """What a socket process does before its first connection: the `settle` of every
    server process, then the collector's thresholds for many long-lived sockets."""
    settle()
    gc.set_threshold(*SOCKET_SERVER_THRESHOLDS)
