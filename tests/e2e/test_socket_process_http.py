"""The socket process's HTTP side, end to end (taskmanager.asgi) under both its
servers: uvicorn (realtime.socket_server, production) and daphne (realtime.server).

The socket process serves `/ws/` and `/monitoring/` only: every other path is a 404
in the error shape, so its port is no second door to the API. Every socket process
and the embedded `make run` (daphne) refuse a body past HTTP_MAX_BODY_BYTES from its
Content-Length before reading it, and a chunked one as soon as it passes the limit,
without growing, and read no WebSocket message past 16 KiB; daphne answers a body
Twisted could not parse (an empty multipart) in the error shape, not with a bare 400.
"""

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.servers import Server, migrate, production_env, serve

UPLOAD_MAX_BYTES = 100_000
LIMIT = UPLOAD_MAX_BYTES + 1024 * 1024
GIB = 1024**3


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = production_env(
        tmp_path_factory.mktemp("socket-http"), UPLOAD_MAX_BYTES=str(UPLOAD_MAX_BYTES)
    )
    migrate(env)
    return env


@pytest.fixture(scope="module")
def socket_process(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve("daphne-socket", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="module")
def uvicorn_socket_process(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve("uvicorn-socket", env, tmp_path_factory.mktemp("logs"), workers=1) as server:
        yield server


# The production socket process under each of its servers.
SOCKET_PROCESSES = ["socket_process", "uvicorn_socket_process"]


@pytest.fixture(scope="module")
def embedded(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


def rss_mb(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def address(server: Server) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def read_answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read until the server closes: the status, headers and body of its answer."""
    data = b""
    connection.settimeout(10)
    while True:
        try:
            chunk = connection.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def send_until_refused(connection: socket.socket, chunks: Iterator[bytes]) -> int:
    """Send chunks until the server stops taking them; the bytes it took."""
    sent = 0
    connection.settimeout(10)
    for chunk in chunks:
        try:
            connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            break
        sent += len(chunk)
    return sent


def spaces(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


@pytest.mark.parametrize("kind", SOCKET_PROCESSES)
@pytest.mark.parametrize(
    "path", ["/api/v1/tasks/", "/api/v1/auth/login/", "/admin/login/", "/api/docs/", "/live/"]
)
def test_socket_process_answers_no_api_route(kind, path, request):
    socket_process: Server = request.getfixturevalue(kind)
    response = requests.get(socket_process.base_url + path, timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("kind", SOCKET_PROCESSES)
def test_socket_process_does_not_log_in(kind, request):
    socket_process: Server = request.getfixturevalue(kind)
    response = requests.post(
        socket_process.base_url + "/api/v1/auth/login/",
        json={"username": "someone", "password": "secret"},
        timeout=10,
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("kind", SOCKET_PROCESSES)
@pytest.mark.parametrize("path", ["/monitoring/health/", "/monitoring/ready/"])
def test_socket_process_serves_monitoring(kind, path, request):
    socket_process: Server = request.getfixturevalue(kind)
    response = requests.get(socket_process.base_url + path, timeout=10)

    assert response.status_code == 200


@pytest.mark.parametrize("kind", [*SOCKET_PROCESSES, "embedded"])
def test_a_declared_body_past_the_limit_is_refused_before_it_is_read(kind, request):
    server: Server = request.getfixturevalue(kind)
    before = rss_mb(server)
    with socket.create_connection(address(server)) as connection:
        connection.sendall(
            b"POST /api/v1/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (GIB + GIB // 2)
        )
        sent = send_until_refused(connection, spaces(GIB // 4))
        status, headers, body = read_answer(connection)

    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    # The kernel's buffers take some of what was sent; the server read none of it.
    assert sent < 64 * 1024 * 1024
    assert rss_mb(server) - before < 30
    assert requests.get(server.base_url + "/monitoring/health/", timeout=10).ok


@pytest.mark.parametrize("kind", [*SOCKET_PROCESSES, "embedded"])
def test_a_chunked_body_is_refused_once_it_passes_the_limit(kind, request):
    server: Server = request.getfixturevalue(kind)
    before = rss_mb(server)

    def chunked() -> Iterator[bytes]:
        for piece in spaces(GIB // 4, 256 * 1024):
            yield b"%x\r\n%s\r\n" % (len(piece), piece)

    with socket.create_connection(address(server)) as connection:
        connection.sendall(
            b"POST /api/v1/files/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sent = send_until_refused(connection, chunked())
        status, _, body = read_answer(connection)

    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert sent < 64 * 1024 * 1024
    assert rss_mb(server) - before < 30


def test_a_body_within_the_limit_still_reaches_the_application(embedded):
    response = requests.post(
        embedded.base_url + "/api/v1/auth/login/",
        data=json.dumps({"username": "nobody", "password": "x" * (LIMIT // 2)}),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code in (400, 401)
    assert "error" in response.json()


@pytest.mark.parametrize("path", ["/api/v1/auth/refresh/", "/api/v1/files/"])
@pytest.mark.parametrize("body", [b"--xx--", b"--xx--\r\n", b"x"])
def test_a_multipart_body_that_does_not_parse_is_answered_in_the_error_shape(embedded, path, body):
    started = time.monotonic()
    response = requests.post(
        embedded.base_url + path,
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
        timeout=10,
    )

    assert time.monotonic() - started < 10
    assert 400 <= response.status_code < 500
    assert response.headers["Content-Type"] == "application/json"
    assert "error" in response.json()


@pytest.mark.parametrize("kind", [*SOCKET_PROCESSES, "embedded"])
def test_a_websocket_message_past_16_kib_is_not_read(kind, request):
    server: Server = request.getfixturevalue(kind)
    ws_url = server.base_url.replace("http://", "ws://") + "/ws/tasks/"
    with connect(ws_url, open_timeout=10, max_size=None) as socket_:
        socket_.send("x" * (16 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            socket_.recv(timeout=10)

    # The server refuses it itself (autobahn: "message too big"; uvicorn: 1009),
    # before the consumer sees it.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
