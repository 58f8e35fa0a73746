"""The two production entry points serve the same code with DEBUG off."""

import re
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.servers import Server, manage, production_env, serve


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("production")
    env = production_env(tmp_path)
    manage("migrate", "--noinput", env=env)
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


@pytest.mark.parametrize("path", ["/api/v1/auth/login/", "/api/v1/files/"])
def test_gunicorn_answers_a_chunked_body_without_length_with_411(gunicorn, path):
    # requests sends a generator's body chunked, without Content-Length.
    body = iter([b'{"username": "someone", ', b'"password": "secret"}'])
    response = requests.post(
        gunicorn.base_url + path,
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"


def test_gunicorn_reads_a_body_with_its_length(gunicorn):
    response = requests.post(
        gunicorn.base_url + "/api/v1/auth/login/",
        json={"username": "someone", "password": "secret"},
        timeout=10,
    )

    assert response.status_code == 401
