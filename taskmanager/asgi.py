"""ASGI entry points, under daphne (`realtime.server`).

`application` serves everything: the embedded `runserver` (`make run`) is one process
for HTTP and WebSocket. `socket_application` is the WebSocket process of the
production layouts (`make serve`, docker-compose): `/ws/` and `/monitoring/` only,
every other HTTP path a 404 in the API's error shape, so the socket port is no second
door to the API.
"""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")

# Build the Django app (and so load the apps) before importing anything that
# touches models, such as the WebSocket routing.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from accounts.websocket import (  # noqa: E402
    CLOSE_NOT_FOUND,
    SocketAuthMiddleware,
    SocketRefusal,
    browser_origin_validator,
)
from monitoring.logs import WebSocketRequestIdMiddleware  # noqa: E402
from taskmanager.exceptions import NOT_FOUND_MESSAGE, error_json  # noqa: E402
from taskmanager.startup import settle_socket_server  # noqa: E402
from tasks.routing import websocket_urlpatterns  # noqa: E402

# A path that is no socket: `not_found` and close 4404, where Channels' router raised
# (an empty HTTP 500 at the handshake and a traceback).
no_such_socket = re_path(r"", SocketRefusal("not_found", NOT_FOUND_MESSAGE, CLOSE_NOT_FOUND))
websocket_app = WebSocketRequestIdMiddleware(
    browser_origin_validator(
        SocketAuthMiddleware(URLRouter([*websocket_urlpatterns, no_such_socket]))
    )
)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_app})

SOCKET_PROCESS_HTTP_PREFIXES = ("/monitoring/",)
NOT_FOUND = error_json("not_found", NOT_FOUND_MESSAGE)


async def socket_process_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """HTTP on the socket process: monitoring through Django, the rest a 404 without
    reading the body (the server has already bounded it)."""
    if scope["path"].startswith(SOCKET_PROCESS_HTTP_PREFIXES):
        await django_asgi_app(scope, receive, send)
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


socket_application = ProtocolTypeRouter({"http": socket_process_http, "websocket": websocket_app})

settle_socket_server()
