"""What a server process does once its application is built, before its first request
(`wsgi.py` under gunicorn, `asgi.py` under daphne)."""

import gc

from django.urls import get_resolver

from taskmanager import query_parameters


def settle() -> None:
    """Import every view now, not on the first request (the URLconf imports the
    views, their serializers and filters), then freeze what is loaded.

    Frozen objects are left out of the garbage collector's full collections. A
    gunicorn worker holds about 136,000 of them (Django, DRF, the project's
    modules), and an occasional full collection walked them all: 120 ms in one
    request, measured in a loop of cached task lists; 8 ms once they are frozen."""
    get_resolver().url_patterns  # noqa: B018 (imports the URLconf)
    # The query parameters each view accepts, read from the OpenAPI document (0.3 s).
    query_parameters.declared()
    gc.collect()
    gc.freeze()


# daphne keeps a few hundred objects for each open socket as long as it is open
# (Twisted's transport, autobahn's protocol, the consumer and its tasks): about
# 360,000 at 2,000 sockets. At Python's default thresholds (700, 10, 10) the frames
# and callbacks of one event's fan-out outlived two young collections and were
# promoted; every few seconds a full collection then walked every socket's objects,
# 140-170 ms each, 61 of them (10 s of CPU) in one run of bench (g). A young
# collection every 50,000 new objects lets them die young first. The older
# generations are then looked at after every young or middle collection (1, 1), so
# that a full collection is still considered every 200,000 new objects or so: what
# a closed socket leaves in cycles is reclaimed, and Python's own rule (the old
# generation must have grown by a quarter) keeps the open ones from being walked
# for nothing. With (50,000, 10, 10), daphne's memory grew by 30-50 MB each time
# 2,000 sockets closed and opened again (464 MB after 8 rounds); with these, it
# stays at about 265 MB (222 MB at the default).
SOCKET_SERVER_THRESHOLDS = (50_000, 1, 1)


def settle_socket_server() -> None:
    """`settle`, for a process that holds many long-lived sockets (`asgi.py`)."""
    settle()
    gc.set_threshold(*SOCKET_SERVER_THRESHOLDS)
