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

import orjson  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import SocketAuthMiddleware, browser_origin_validator  # noqa: E402
from monitoring.logs import WebSocketRequestIdMiddleware  # noqa: E402
from taskmanager.exceptions import error_body  # noqa: E402
from taskmanager.startup import settle_socket_server  # noqa: E402
from tasks.routing import websocket_urlpatterns  # noqa: E402

websocket_app = WebSocketRequestIdMiddleware(
    browser_origin_validator(SocketAuthMiddleware(URLRouter(websocket_urlpatterns)))
)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_app})

SOCKET_PROCESS_HTTP_PREFIXES = ("/monitoring/",)
NOT_FOUND = orjson.dumps(error_body("not_found", "Not found."))


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
