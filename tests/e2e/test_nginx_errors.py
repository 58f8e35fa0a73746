"""deploy/nginx.conf run by a real nginx: what nginx answers itself (a request it cannot
read or will not take, an upstream that is down) is the API's error shape in the API's
encoding, the bytes the application writes for the same error; what the application
answers passes through untouched. make serve's own test (test_serve.py) covers the
whole stack; this one needs only nginx."""

import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmanager import exceptions
from taskmanager.settings import BASE_DIR
from tests.e2e.servers import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="needs nginx (apt-get install nginx-light)"
)

# What the stand-in application answers to every request: an error of its own.
APP_BODY = b'{"error":{"code":"conflict","message":"From the application.","fields":{}}}'


class _Application(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(409)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(APP_BODY)))
        self.end_headers()
        self.wfile.write(APP_BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Nginx:
    port: int

    def send(self, raw: bytes) -> Answer:
        """One raw request; the answer nginx sends before it closes the connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as connection:
            connection.sendall(raw)
            received = b""
            while b"\r\n\r\n" not in received and (chunk := connection.recv(65536)):
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers.get("Content-Length", "0"))
            while len(body) < length and (chunk := connection.recv(65536)):
                body += chunk
        return Answer(int(lines[0].split()[1]), headers, body)

    def get(self, path: str, *headers: str) -> Answer:
        lines = [f"GET {path} HTTP/1.1", "Host: localhost", *headers, "Connection: close"]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode())


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """deploy/nginx.conf as scripts/serve rewrites it: the web upstream a stand-in
    application, the socket upstream a port nobody listens on (daphne down)."""
    run_dir = tmp_path_factory.mktemp("nginx")
    application = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Application)
    threading.Thread(target=application.serve_forever, daemon=True).start()
    port, down = free_port(), free_port()
    site = (
        (BASE_DIR / "deploy" / "nginx.conf")
        .read_text()
        .replace("listen 80;", f"listen 127.0.0.1:{port};")
        .replace("server web:8000;", f"server 127.0.0.1:{application.server_port};")
        .replace("server ws:8001;", f"server 127.0.0.1:{down};")
        .replace("access_log /var/log/nginx/access.log redacted;", "access_log off;")
        .replace("/var/log/nginx/", f"{run_dir}/")
    )
    (run_dir / "site.conf").write_text(site)
    temp_paths = "\n".join(
        f"{kind}_temp_path {run_dir}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (run_dir / "nginx.conf").write_text(
        # Run as root, nginx's workers would become `nobody`, who may not reach tmp_path.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {run_dir}/nginx.pid;\n"
        + "error_log stderr crit;\nevents { worker_connections 64; }\n"
        + f"http {{\n{temp_paths}\ninclude {run_dir}/site.conf;\n}}\n"
    )
    process = subprocess.Popen(
        [NGINX, "-c", str(run_dir / "nginx.conf"), "-p", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        yield Nginx(port)
    finally:
        process.terminate()
        process.wait(timeout=10)
        application.shutdown()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {process.stderr.read() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start listening")


def assert_application_error(answer: Answer, status: int, body: bytes) -> None:
    """nginx's answer is the error shape in exactly the application's bytes."""
    assert answer.status == status, answer
    assert answer.headers["Content-Type"] == "application/json", answer.headers
    assert answer.body == body, answer.body
    assert answer.headers.get("X-Request-ID"), answer.headers


def test_a_body_over_the_limit_is_a_413_in_the_applications_bytes(nginx):
    raw = (
        b"POST /api/v1/files/ HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 7340032\r\n\r\n"
    )

    answer = nginx.send(raw)

    assert_application_error(
        answer,
        413,
        exceptions.error_json("payload_too_large", exceptions.PAYLOAD_TOO_LARGE_MESSAGE),
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="no-request-line"),
        pytest.param(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", id="no-host"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="two-hosts"),
    ],
)
def test_a_request_nginx_cannot_read_is_a_400_in_the_applications_bytes(nginx, raw):
    assert_application_error(
        nginx.send(raw),
        400,
        exceptions.error_json("bad_request", exceptions.BAD_REQUEST_MESSAGE),
    )


def test_headers_too_large_are_a_400_in_the_error_shape(nginx):
    answer = nginx.get("/api/v1/tasks/", "X-Large: " + "a" * 20_000)

    assert_application_error(
        answer,
        400,
        exceptions.error_json("bad_request", "The request headers are too large."),
    )


def test_a_url_too_long_is_a_414_in_the_error_shape(nginx):
    answer = nginx.get("/api/v1/tasks/?q=" + "a" * 20_000)

    assert_application_error(
        answer, 414, exceptions.error_json("uri_too_long", "The URL is too long.")
    )


def test_a_method_nginx_refuses_is_a_405_in_the_error_shape(nginx):
    answer = nginx.send(b"TRACE / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")

    assert_application_error(
        answer,
        405,
        exceptions.error_json("method_not_allowed", "This method is not allowed here."),
    )


def test_an_unknown_transfer_encoding_is_a_501_in_the_error_shape(nginx):
    raw = b"POST /api/v1/tasks/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"

    answer = nginx.send(raw)

    assert answer.status == 501
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.body.startswith(b'{"error":{"code":"not_implemented","message":"')


def test_an_http_version_nginx_does_not_speak_is_a_505_in_the_error_shape(nginx):
    answer = nginx.send(b"GET / HTTP/2.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")

    assert answer.status == 505
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.body.startswith(b'{"error":{"code":"http_version_not_supported","message":"')


def test_an_upstream_that_is_down_is_its_status_with_a_503_body_and_retry_after(nginx):
    # /ws/ goes to daphne, which is down here: nginx's 502 in the error shape.
    answer = nginx.get("/ws/tasks/")

    assert_application_error(
        answer,
        502,
        exceptions.error_json(
            "service_unavailable", "The service is unavailable; try again later."
        ),
    )
    assert answer.headers["Retry-After"] == "5"


@pytest.mark.parametrize("path", ["/monitoring/metrics/", "/.errors/400", "/.errors/503"])
def test_what_nginx_keeps_to_itself_is_the_applications_404(nginx, path):
    assert_application_error(
        nginx.get(path),
        404,
        exceptions.error_json("not_found", exceptions.NOT_FOUND_MESSAGE),
    )


def test_the_applications_own_errors_pass_through_untouched(nginx):
    answer = nginx.get("/api/v1/tasks/1/")

    assert answer.status == 409
    assert answer.body == APP_BODY
