"""WSGI entry point: every HTTP route in production, under gunicorn.

DRF views are synchronous; under WSGI they run without the thread hop that ASGI
pays per request (DESIGN.md, "Serving"), so HTTP is served here and only `/ws/`
(with its process's `/monitoring/`) by `asgi.py` under daphne.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")

django_application = get_wsgi_application()

from taskmanager.middleware import ChunkedBodies  # noqa: E402 (reads settings)

application = ChunkedBodies(django_application)

from taskmanager.startup import settle  # noqa: E402 (needs the apps loaded)

settle()
