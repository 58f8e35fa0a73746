"""The two production entry points serve the same code with DEBUG off."""

import re
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.servers import Server, manage, migrate, production_env, register_and_login, serve


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("production")
    env = production_env(tmp_path)
    migrate(env)
    manage("collectstatic", "--noinput", env=env)
    return env


@pytest.fixture(scope="module")
def gunicorn(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("gunicorn", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="module")
def daphne(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


def _static_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/", "/admin/login/"])
def test_gunicorn_renders_pages_with_their_static_files(gunicorn, path):
    response = requests.get(gunicorn.base_url + path, timeout=10)

    assert response.status_code == 200
    assets = _static_urls(response.text)
    assert assets, "the page references no static files"
    for asset in assets:
        static = requests.get(gunicorn.base_url + asset, timeout=10)
        assert static.status_code == 200, asset
        # Hashed names from the collected manifest, cached for a long time by WhiteNoise.
        assert re.search(r"\.[0-9a-f]{12}\.", asset), asset
        assert "max-age=315360000" in static.headers["Cache-Control"], asset


def test_gunicorn_serves_the_api_with_the_error_shape_and_no_debug_page(gunicorn):
    response = requests.get(gunicorn.base_url + "/api/v1/no-such-route/", timeout=10)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_gunicorn_sends_security_headers(gunicorn):
    response = requests.get(gunicorn.base_url + "/monitoring/health/", timeout=10)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_daphne_serves_http_through_asgi(daphne):
    response = requests.get(daphne.base_url + "/monitoring/health/", timeout=10)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    """A body requests sends chunked (Transfer-Encoding), without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_gunicorn_reads_a_chunked_json_body(gunicorn):
    response = requests.post(
        gunicorn.base_url + "/api/v1/auth/login/",
        data=chunks(b'{"username": "someone", "password": "secret"}', 7),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    # The credentials were read and checked (an empty body would be a 400).
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_gunicorn_stores_a_chunked_upload(gunicorn):
    user = register_and_login(gunicorn)
    content = b"chunked upload\n" * 5000
    boundary = "chunkedboundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Authorization": f"Bearer {user['access']}"}

    created = requests.post(
        gunicorn.base_url + "/api/v1/files/",
        data=chunks(body, 4096),
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    downloaded = requests.get(
        gunicorn.base_url + f"/api/v1/files/{created.json()['id']}/download/",
        headers=headers,
        timeout=10,
    )

    assert downloaded.content == content


def test_gunicorn_refuses_a_chunked_body_past_the_limit_with_413(gunicorn):
    # Past UPLOAD_MAX_BYTES (5 MiB) plus the envelope: read no further, answer 413.
    body = b'{"username": "' + b"x" * (7 * 1024 * 1024) + b'"}'
    response = requests.post(
        gunicorn.base_url + "/api/v1/auth/login/",
        data=chunks(body, 64 * 1024),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_gunicorn_reads_a_body_with_its_length(gunicorn):
    response = requests.post(
        gunicorn.base_url + "/api/v1/auth/login/",
        json={"username": "someone", "password": "secret"},
        timeout=10,
    )

    assert response.status_code == 401
