"""`make serve` (scripts/serve): nginx in front of gunicorn and daphne, as production
runs them, sharing events through Redis; stopping it stops all three. Slow clients
hold nginx's connections, never gunicorn's workers."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from taskmanager.settings import BASE_DIR
from tests.e2e.servers import (
    BIN,
    Server,
    free_port,
    migrate,
    production_env,
    register_and_login,
    wait_until_healthy,
)

REDIS_URL = os.environ.get("REDIS_URL", "")
NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
)
pytestmark = [
    pytest.mark.skipif(not REDIS_URL, reason="make serve needs REDIS_URL"),
    pytest.mark.skipif(
        NGINX is None, reason="make serve needs nginx (apt-get install nginx-light)"
    ),
]


def port_is_free(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/monitoring/health/", timeout=1)
    except requests.ConnectionError:
        return True
    return False


@dataclass
class Serving:
    web: Server
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    var_dir: Path


def get_over_unix_socket(path: Path, url_path: str) -> int:
    """The status of a GET to the HTTP server listening on the Unix socket `path`."""
    connection = http.client.HTTPConnection("127.0.0.1", timeout=10)
    connection.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.sock.settimeout(10)
    connection.sock.connect(str(path))
    try:
        connection.request("GET", url_path)
        return connection.getresponse().status
    finally:
        connection.close()


@contextmanager
def make_serve(tmp_path: Path) -> Iterator[Serving]:
    """scripts/serve on free ports; stopped with SIGTERM when the block ends."""
    ports = {"PORT": free_port(), "WS_PORT": free_port()}
    env = production_env(
        tmp_path, REDIS_URL=REDIS_URL, HOST="127.0.0.1", **{k: str(v) for k, v in ports.items()}
    )
    env["BIN"] = str(BIN)
    migrate(env)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BASE_DIR / "scripts" / "serve")], cwd=BASE_DIR, env=env, stdout=log, stderr=log
        )
    web = Server(f"http://127.0.0.1:{ports['PORT']}", process, log_path)
    try:
        wait_until_healthy(web)
        # nginx answers through gunicorn first; daphne (the /ws/ upstream) may still be
        # starting, and nginx would answer a socket 502 until it listens.
        wait_until_healthy(Server(f"http://127.0.0.1:{ports['WS_PORT']}", process, log_path))
        yield Serving(web, ports, process, Path(env["VAR_DIR"]))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def test_serve_runs_http_and_websocket_behind_nginx_and_stops_all(tmp_path: Path):
    with make_serve(tmp_path) as serving:
        web, process = serving.web, serving.process
        user = register_and_login(web)

        live = requests.get(f"{web.base_url}/live/", allow_redirects=False, timeout=10)
        # One public port: nginx sends /ws/ to daphne.
        with connect(
            f"{web.ws_url}/ws/tasks/",
            additional_headers={"Authorization": f"Bearer {user['access']}"},
            open_timeout=10,
        ) as socket_:
            assert json.loads(socket_.recv(timeout=10))["type"] == "ready"
            created = requests.post(
                f"{web.base_url}/api/v1/tasks/",
                json={"title": "through gunicorn"},
                headers={"Authorization": f"Bearer {user['access']}"},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            event = json.loads(socket_.recv(timeout=10))
        # From outside, metrics are nginx's 404; gunicorn listens on a Unix socket only.
        metrics = requests.get(f"{web.base_url}/monitoring/metrics/", timeout=10)
        inside = get_over_unix_socket(
            serving.var_dir / "serve" / "web.sock", "/monitoring/metrics/"
        )
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=20)

    assert event["type"] == "task.created"
    assert event["task"]["id"] == created.json()["id"]
    assert live.status_code == 302  # to the login page; the page itself is tested elsewhere
    assert metrics.status_code == 404
    assert metrics.json()["error"]["code"] == "not_found"
    assert inside == 200
    assert exit_code in (0, 143, -signal.SIGTERM)
    for port in serving.ports.values():
        assert port_is_free(port)


def trickle(port: int, first: bytes, rest: bytes, stop: threading.Event) -> None:
    """Send `first`, then `rest` a byte every 2 s until `stop` (a slow client)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(first)
            for byte in rest:
                if stop.wait(2):
                    return
                connection.sendall(bytes([byte]))
    except OSError:
        pass


def test_health_answers_within_3_s_while_slow_clients_are_connected(tmp_path: Path):
    slow_headers = (
        b"GET /monitoring/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        b"X-Slow: " + b"a" * 64,
    )
    slow_body = (
        b"POST /api/v1/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        b" " * 100,
    )
    stop = threading.Event()
    with make_serve(tmp_path) as serving:
        port = serving.ports["PORT"]
        clients = [
            threading.Thread(target=trickle, args=(port, *kind, stop), daemon=True)
            for kind in (slow_headers, slow_body)
            for _ in range(20)  # ten times gunicorn's workers
        ]
        for client in clients:
            client.start()
        time.sleep(3)  # every slow client has connected and sent its first bytes
        try:
            answers = []
            for _ in range(5):
                started = time.monotonic()
                response = requests.get(f"{serving.web.base_url}/monitoring/health/", timeout=3)
                answers.append((response.status_code, time.monotonic() - started))
                time.sleep(1)
        finally:
            stop.set()

    assert [status for status, _ in answers] == [200] * 5
    assert max(seconds for _, seconds in answers) < 3


def test_nginx_and_the_application_answer_errors_in_the_same_bytes(tmp_path: Path):
    with make_serve(tmp_path) as serving:
        base_url, port = serving.web.base_url, serving.ports["PORT"]
        access = register_and_login(serving.web)["access"]
        # nginx's own 404, Django's and DRF's, through the same front door.
        from_nginx = requests.get(f"{base_url}/monitoring/metrics/", timeout=10)
        from_django = requests.get(f"{base_url}/api/v1/no-such/", timeout=10)
        from_drf = requests.get(
            f"{base_url}/api/v1/tasks/999999/",
            headers={"Authorization": f"Bearer {access}"},
            timeout=10,
        )
        # A body past client_max_body_size: nginx refuses it from its Content-Length.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(
                b"POST /api/v1/files/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 7340032\r\n"
                b"Connection: close\r\n\r\n"
            )
            too_large = http.client.HTTPResponse(connection)
            too_large.begin()
            too_large_body = too_large.read()

    assert from_nginx.status_code == from_django.status_code == from_drf.status_code == 404
    assert from_nginx.content == from_django.content == from_drf.content
    assert (
        from_nginx.headers["Content-Type"]
        == from_django.headers["Content-Type"]
        == from_drf.headers["Content-Type"]
    )
    assert too_large.status == 413
    assert too_large.getheader("Content-Type") == "application/json"
    assert json.loads(too_large_body) == {
        "error": {
            "code": "payload_too_large",
            "message": "The request body is too large.",
            "fields": {},
        }
    }
