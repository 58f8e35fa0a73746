"""API8:2023 Security Misconfiguration.

Production settings pass `check --deploy` at warning level (and DEBUG on does not);
DEBUG is off when nothing is set; every response carries the security headers
(HSTS on HTTPS); CORS answers only the allow-listed origins, without credentials;
no error, however it happens, shows a stack trace or a debug page; and neither
Django nor the production servers (gunicorn, daphne) announce a version.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.test import Client
from rest_framework.test import APIClient
from websockets.sync.client import connect as ws_connect

from taskmanager.settings import BASE_DIR
from tests.e2e.servers import Server, migrate, production_env, serve
from tests.security.helpers import operations

# What .ci/run gives `check --deploy`. The check opens no connection, so unreachable
# addresses do on either test backend.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-like-" + "k3y" * 20,
    "DATABASE_URL": "postgres://app@127.0.0.1:1/app",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "ALLOWED_HOSTS": "tasks.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "TRUST_X_FORWARDED_PROTO": "true",
    "SECURE_HSTS_PRELOAD": "true",
}
VERSION = re.compile(r"\d+\.\d+")


def manage_py(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "SECRET_", "DEBUG", "SECURE_", "ALLOWED_"))
    }
    env.update({"DJANGO_SETTINGS_MODULE": "taskmanager.settings", "VAR_DIR": str(tmp_path)})
    env.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy_at_warning_level(tmp_path):
    result = manage_py(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "weakened",
    [
        {"DEBUG": "true"},
        {"SECURE_HSTS_SECONDS": "0", "SECURE_SSL_REDIRECT": "false", "SECURE_COOKIES": "false"},
    ],
    ids=["debug", "transport"],
)
def test_check_deploy_fails_a_weakened_production(tmp_path, weakened):
    expected = {
        "DEBUG": "security.W018",
        "SECURE_HSTS_SECONDS": "security.W004",
        "SECURE_SSL_REDIRECT": "security.W008",
        "SECURE_COOKIES": "security.W012",
    }

    result = manage_py(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, **weakened}
    )

    assert result.returncode != 0
    for variable in weakened:
        assert expected[variable] in result.stdout + result.stderr, variable


def test_debug_is_off_when_nothing_is_set(tmp_path):
    result = manage_py(
        tmp_path, "shell", "-c", "from django.conf import settings; print(settings.DEBUG)"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


# --- headers -------------------------------------------------------------------------

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PAGES = ["/api/v1/tasks/", "/api/v1/auth/login/", "/api/schema/", "/monitoring/health/", "/nope/"]


@pytest.mark.parametrize("path", sorted({p for p, _, _ in operations() if "{" not in p}) + PAGES)
def test_every_response_carries_the_security_headers(path, db):
    response = APIClient().get(path)

    for header, value in SECURITY_HEADERS.items():
        assert response.get(header) == value, (path, header)
    assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS


def test_https_responses_carry_hsts_for_a_year_with_subdomains(db):
    response = APIClient().get("/api/v1/tasks/", secure=True)

    hsts = response["Strict-Transport-Security"]
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000
    assert "includeSubDomains" in hsts


@pytest.mark.parametrize("path", ["/login/", "/register/", "/admin/login/"])
def test_login_pages_set_only_protected_cookies(path, db, settings):
    # Secure in production (SECURE_COOKIES defaults on unless DEBUG).
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    response = Client().get(path)

    csrf = response.cookies["csrftoken"]
    assert csrf["secure"]
    assert csrf["samesite"] == "Lax"
    assert settings.SESSION_COOKIE_HTTPONLY


# --- CORS ----------------------------------------------------------------------------

ALLOWED_ORIGIN = "https://app.example.com"


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN]


@pytest.mark.parametrize(
    "origin",
    [
        "https://attacker.example",
        "https://app.example.com.attacker.example",
        "http://app.example.com",
        "null",
    ],
)
@pytest.mark.parametrize("method", ["get", "options"])
def test_cors_ignores_origins_outside_the_allow_list(origin, method, cors, member_client):
    response = getattr(member_client, method)(
        "/api/v1/tasks/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )

    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


def test_cors_answers_an_allowed_origin_by_name_without_credentials(cors, member_client):
    preflight = member_client.options(
        "/api/v1/tasks/",
        HTTP_ORIGIN=ALLOWED_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    response = member_client.get("/api/v1/tasks/", HTTP_ORIGIN=ALLOWED_ORIGIN)

    assert preflight["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert response["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    # Bearer tokens, not cookies, cross origins: a foreign page never rides a session.
    assert "Access-Control-Allow-Credentials" not in response


# --- errors ----------------------------------------------------------------------------

SECRET_DETAIL = "secret-internal-detail-at-/srv/app/db.py"


def assert_bare_error(response, status: int) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    text = response.content.decode()
    assert set(response.json()) == {"error"}
    for leak in ("Traceback", SECRET_DETAIL, 'File "', "django", "RuntimeError", "SELECT"):
        assert leak not in text, leak


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("tasks.selectors.task_visible_to", "/api/v1/tasks/"),
        ("accounts.views.services.user_register", "/api/v1/auth/register/"),
        ("monitoring.views._json", "/monitoring/health/"),
    ],
)
def test_an_unexpected_failure_answers_500_without_details(
    target, path, monkeypatch, member, login
):
    def explode(*args, **kwargs):
        raise RuntimeError(SECRET_DETAIL)

    monkeypatch.setattr(target, explode)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(member)['access']}")
    body = {"username": "newbie", "email": "newbie@example.com", "password": "Wind-Copper-42-x"}

    response = client.post(path, body, format="json") if "register" in path else client.get(path)

    assert_bare_error(response, 500)
    assert response.json()["error"]["code"] == "server_error"


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("post", "/api/v1/auth/login/", "{not json", "application/json", 400),
        ("post", "/api/v1/auth/login/", "\xff\xfe", "application/json", 400),
        ("post", "/api/v1/auth/login/", "a=b", "application/xml", 415),
        ("get", "/api/v1/nope/", None, None, 404),
        ("get", "/static/../settings.py", None, None, 404),
        ("trace", "/api/v1/auth/login/", None, None, 405),
    ],
)
def test_malformed_requests_get_the_error_shape_not_a_debug_page(
    method, path, body, content_type, status, db
):
    client = APIClient(raise_request_exception=False)
    kwargs = {"data": body, "content_type": content_type} if body is not None else {}

    response = getattr(client, method)(path, **kwargs)

    assert_bare_error(response, status)


def test_no_response_announces_its_software(member_client):
    response = member_client.get("/api/v1/tasks/")

    for header in ("Server", "X-Powered-By", "X-AspNet-Version", "X-Runtime"):
        assert header not in response


# --- real servers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    tmp_path = tmp_path_factory.mktemp("api08")
    env = production_env(tmp_path)
    migrate(env)
    with (
        serve("gunicorn", env, tmp_path, workers=1) as gunicorn,
        serve("daphne", env, tmp_path) as daphne,
    ):
        yield {"gunicorn": gunicorn, "daphne": daphne}


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["gunicorn", "daphne"])
@pytest.mark.parametrize("path", ["/monitoring/health/", "/api/v1/tasks/", "/nope/"])
def test_production_servers_announce_no_version(kind, path, servers):
    response = requests.get(servers[kind].base_url + path, timeout=10)

    assert response.headers.get("Server") in (None, "gunicorn", "daphne")
    assert not VERSION.search(response.headers.get("Server", ""))
    assert "X-Powered-By" not in response.headers
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get(header) == value, header


@pytest.mark.e2e
def test_the_websocket_handshake_announces_no_version(servers):
    with ws_connect(servers["daphne"].ws_url + "/ws/tasks/", open_timeout=10) as socket:
        server = socket.response.headers.get("Server", "")

    assert not VERSION.search(server), server
