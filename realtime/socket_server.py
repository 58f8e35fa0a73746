"""The WebSocket server process of the production layouts: uvicorn, on its sans-I/O
`websockets` protocol, serving `taskmanager.asgi:socket_application`.

Why uvicorn and not daphne here: docs/decisions/socket-server.md (a frame costs the
server about a third of daphne's CPU). daphne stays the server of `make run`
(`manage.py runserver`) and `python -m realtime.server`; both serve the same
application with the same limits:

- no WebSocket message read past WEBSOCKET_MAX_MESSAGE_BYTES;
- a ping every PING_INTERVAL seconds, a socket silent for PING_TIMEOUT more closed;
- X-Forwarded-For and X-Forwarded-Proto taken from the proxy (nginx sets them);
- no access log of the server's own (a socket's `?token=` would be in it);
- HTTP request bodies bounded (realtime.asgi.bounded_body: the socket application
  reads at most HTTP_MAX_BODY_BYTES of one).

`python -m realtime.socket_server -b HOST -p PORT [--workers N]`: N processes sharing
the port, one per core; each gets every event (realtime.fanout). With several, their
metrics are summed through a directory of their own (PROMETHEUS_MULTIPROC_DIR, made
here), so a scrape of the port sees them all.
"""

import argparse
import os
import shutil
import tempfile
from typing import Any

APPLICATION = "taskmanager.asgi:socket_application"
# uvicorn's sans-I/O websockets protocol, writing each event's frame as the fan-out
# framed it once for all sockets (realtime.socket_protocol); the others for comparison.
WS_PROTOCOLS = {
    "framed": "realtime.socket_protocol:FramedEventsProtocol",
    "websockets-sansio": "websockets-sansio",
    "websockets": "websockets",
    "wsproto": "wsproto",
}
# The largest WebSocket message read (a server's default is 1 MiB or more): the
# consumer takes 4,096 characters (realtime.consumers.MAX_MESSAGE_CHARS), at most 4
# bytes each in UTF-8.
WEBSOCKET_MAX_MESSAGE_BYTES = 16 * 1024
PING_INTERVAL = 20.0
PING_TIMEOUT = 30.0
# uvicorn's own records, applied in every worker before Django's (settings.LOGGING,
# which keeps them): warnings and errors only. Its INFO lines name each socket's path
# with its query string (`?token=`), as an access log would.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


def uvicorn_settings(
    host: str,
    port: int,
    workers: int,
    forwarded_allow_ips: str,
    loop: str = "uvloop",
    ws: str = "framed",
) -> dict[str, Any]:
    """The keyword arguments of uvicorn.run for the socket process."""
    return {
        "host": host,
        "port": port,
        "workers": workers,
        # websockets' sans-I/O protocol: the cheapest frame of uvicorn's three, and
        # uvloop's transports under it (docs/decisions/socket-server.md).
        "ws": WS_PROTOCOLS[ws],
        "http": "httptools",
        "loop": loop,
        "ws_max_size": WEBSOCKET_MAX_MESSAGE_BYTES,
        "ws_ping_interval": PING_INTERVAL,
        "ws_ping_timeout": PING_TIMEOUT,
        # Events are a few hundred bytes: compressing each frame for each socket
        # would cost more CPU than the bytes it saves (daphne does not either).
        "ws_per_message_deflate": False,
        "proxy_headers": True,
        "forwarded_allow_ips": forwarded_allow_ips,
        "access_log": False,
        "log_config": LOG_CONFIG,
        "lifespan": "off",
        "server_header": False,
    }


def metrics_directory(workers: int) -> str | None:
    """Where the workers write their metrics for a scrape to sum (monitoring.views):
    a new, empty directory when there are several (no earlier run's values summed
    in), none for one process, which answers its own."""
    if workers <= 1:
        return None
    return tempfile.mkdtemp(prefix="socket-metrics-")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-b", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8001)
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WS_WORKERS", "1")),
        help="processes sharing the port, one per core (default: WS_WORKERS or 1)",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="the proxies whose X-Forwarded-* are taken ('*': any, as daphne's"
        " --proxy-headers; default: FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="for comparison"
    )
    parser.add_argument(
        "--ws",
        choices=tuple(WS_PROTOCOLS),
        default="framed",
        help="uvicorn's WebSocket protocol (the others for comparison: bench/sockets.py)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")
    # The workers inherit the environment; a directory given from outside (another
    # server's) is not this one's.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    directory = metrics_directory(args.workers)
    if directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory

    import uvicorn

    try:
        uvicorn.run(
            APPLICATION,
            **uvicorn_settings(
                args.host,
                args.port,
                args.workers,
                args.forwarded_allow_ips,
                loop=args.loop,
                ws=args.ws,
            ),
        )
    finally:
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
