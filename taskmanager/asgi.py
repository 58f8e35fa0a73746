"""ASGI entry point: WebSocket (and HTTP for the embedded `runserver`) under daphne."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")

# Build the Django app (and so load the apps) before importing anything that
# touches models, such as the WebSocket routing.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import SocketAuthMiddleware, browser_origin_validator  # noqa: E402
from monitoring.logs import WebSocketRequestIdMiddleware  # noqa: E402
from taskmanager.startup import settle_socket_server  # noqa: E402
from tasks.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketRequestIdMiddleware(
            browser_origin_validator(SocketAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)

settle_socket_server()
