"""What a server process does once its application is built, before its first request
(`wsgi.py` under gunicorn; the socket process adds its own, realtime.asgi)."""

import gc

from django.urls import get_resolver

from taskmanager import query_parameters


def settle() -> None:
    """Import every view now, not on the first request (the URLconf imports the
    views, their serializers and filters), read the OpenAPI document's query
    parameters, then freeze what is loaded, so that the garbage collector's full
    collections, which pause a request, skip it (docs/decisions/socket-process-gc.md)."""
    get_resolver().url_patterns  # noqa: B018 (imports the URLconf)
    query_parameters.declared()
    gc.collect()
    gc.freeze()
