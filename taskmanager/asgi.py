"""ASGI entry points, under daphne (`realtime.server`): `application` (HTTP and
WebSocket, the embedded `make run`) and `socket_application` (the socket process of
the production layouts); realtime.asgi describes both."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")

# Build the Django app (and so load the apps) before importing anything that
# touches models, such as the WebSocket routing.
django_asgi_app = get_asgi_application()

from realtime.asgi import applications, settle_socket_server  # noqa: E402

application, socket_application = applications(django_asgi_app)

settle_socket_server()
