"""What `make fuzz` (scripts/fuzz) found, replayed: fixed requests against the production
server, each answer held to the fuzzer's own checks (no 5xx, a documented status, its
documented content type and body schema) and to the status the case is about.

The fuzzer itself runs in CI as `make fuzz`; these cases are deterministic, so a
regression fails here whatever the fuzzer happens to draw.
"""

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.servers import (
    Server,
    manage,
    postgres_database,
    production_env,
    register_and_login,
    serve,
)
from tests.files.samples import png_bytes, zip_bytes

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
UNTHROTTLED = "1000000/min"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn on a fresh database: PostgreSQL when DATABASE_URL names one, else SQLite."""
    tmp = tmp_path_factory.mktemp("fuzz")
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        database: AbstractContextManager[str] = postgres_database(url)
    else:
        database = nullcontext(f"sqlite:///{tmp / 'db.sqlite3'}")
    with database as database_url:
        env = production_env(
            tmp,
            DATABASE_URL=database_url,
            MEDIA_ROOT=str(tmp / "media"),
            THROTTLE_READ_RATE=UNTHROTTLED,
            THROTTLE_WRITE_RATE=UNTHROTTLED,
            THROTTLE_LOGIN_RATE=UNTHROTTLED,
            THROTTLE_LOGIN_IP_RATE=UNTHROTTLED,
        )
        manage("migrate", "--noinput", env=env)
        with serve("gunicorn", env, tmp_path_factory.mktemp("logs"), workers=1) as running:
            yield running


@pytest.fixture(scope="module")
def schema(server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{server.base_url}/api/schema/?format=json")


@pytest.fixture(scope="module")
def member(server: Server) -> dict[str, Any]:
    return register_and_login(server)


@pytest.fixture(scope="module")
def bearer(member: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {member['access']}"}


def conforms(schema: Any, method: str, path: str, response: requests.Response) -> None:
    """The fuzzer's four checks on one answer of the operation `method path`."""
    case = schema[path][method].Case()
    case.validate_response(response, checks=CHECKS)


def api(server: Server, path: str) -> str:
    return f"{server.base_url}/api/v1{path}"


# Server errors the fuzzer found (the filters; see the fix proposed with scripts/fuzz).


@pytest.mark.parametrize(
    ("path", "query"),
    [
        # Past a 64-bit id: SQLite's driver raised OverflowError.
        ("/tasks/", {"assignee": "-2.5521245274365446e+242"}),
        ("/tasks/", {"assignee": "99999999999999999999"}),
        ("/files/", {"task": "99999999999999999999"}),
        # A UTC offset PostgreSQL refuses ("time zone displacement out of range").
        ("/tasks/", {"due_before": "0163-07-04T21:55:43+21:00"}),
        ("/tasks/", {"due_after": "2026-01-01T00:00:00-23:59"}),
        # Out of years 1-9999 once in UTC, where SQLite's adapter converts it.
        ("/tasks/", {"due_after": "0001-01-01T00:00:00+05:00"}),
        ("/tasks/", {"due_before": "9999-12-31T23:59:59-05:00"}),
        # An empty ordering term: FieldError "Cannot resolve keyword ''".
        ("/tasks/", {"ordering": ",,,,,"}),
        ("/tasks/", {"ordering": "title,"}),
    ],
)
def test_list_filters_the_fuzzer_broke_answer_200_or_400(schema, bearer, path, query):
    case = schema[f"/api/v1{path}"]["GET"].Case(query=query, headers=bearer)
    response = case.call(timeout=10)

    case.validate_response(response, checks=CHECKS)
    assert response.status_code in (200, 400), response.text


# Error responses the schema did not document before the fuzzer.


def test_a_request_without_a_token_is_a_documented_401(server, schema):
    response = requests.get(api(server, "/tasks/"), timeout=10)

    conforms(schema, "GET", "/api/v1/tasks/", response)
    assert response.status_code == 401


def test_a_member_listing_users_is_a_documented_403(server, schema, bearer):
    response = requests.get(api(server, "/users/"), headers=bearer, timeout=10)

    conforms(schema, "GET", "/api/v1/users/", response)
    assert response.status_code == 403


def test_an_unknown_task_is_a_documented_404(server, schema, bearer):
    response = requests.get(api(server, "/tasks/999999/"), headers=bearer, timeout=10)

    conforms(schema, "GET", "/api/v1/tasks/{id}/", response)
    assert response.status_code == 404


def test_an_invalid_body_is_a_documented_400(server, schema, bearer):
    response = requests.post(api(server, "/tasks/"), json={"x": 1}, headers=bearer, timeout=10)

    conforms(schema, "POST", "/api/v1/tasks/", response)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["x"] == ["Unknown field."]


def test_an_idempotency_key_reused_with_another_body_is_a_documented_409(server, schema, bearer):
    headers = {**bearer, "Idempotency-Key": "fuzz-409"}
    first = requests.post(api(server, "/tasks/"), json={"title": "a"}, headers=headers, timeout=10)
    second = requests.post(api(server, "/tasks/"), json={"title": "b"}, headers=headers, timeout=10)

    assert first.status_code == 201, first.text
    conforms(schema, "POST", "/api/v1/tasks/", second)
    assert second.status_code == 409


def test_a_stale_if_match_is_a_documented_412(server, schema, bearer):
    created = requests.post(api(server, "/tasks/"), json={"title": "t"}, headers=bearer, timeout=10)
    task = created.json()
    response = requests.delete(
        api(server, f"/tasks/{task['id']}/"),
        headers={**bearer, "If-Match": f'"{task["id"]}-{task["version"] + 1}"'},
        timeout=10,
    )

    conforms(schema, "DELETE", "/api/v1/tasks/{id}/", response)
    assert response.status_code == 412


def test_an_upload_of_a_refused_type_is_a_documented_415(server, schema, bearer):
    response = requests.post(
        api(server, "/files/"),
        files={"file": ("file.zip", zip_bytes({"a.txt": "a"}), "application/zip")},
        headers=bearer,
        timeout=10,
    )

    conforms(schema, "POST", "/api/v1/files/", response)
    assert response.status_code == 415


def test_a_download_has_the_files_own_documented_content_type(server, schema, bearer):
    uploaded = requests.post(
        api(server, "/files/"),
        files={"file": ("red.png", png_bytes(), "image/png")},
        headers=bearer,
        timeout=10,
    )
    assert uploaded.status_code == 201, uploaded.text
    response = requests.get(
        api(server, f"/files/{uploaded.json()['id']}/download/"), headers=bearer, timeout=10
    )

    conforms(schema, "GET", "/api/v1/files/{id}/download/", response)
    assert response.headers["Content-Type"] == "image/png"


def test_wrong_credentials_are_a_documented_401(server, schema, member):
    response = requests.post(
        api(server, "/auth/login/"),
        json={"username": member["username"], "password": "not-the-password"},
        timeout=10,
    )

    conforms(schema, "POST", "/api/v1/auth/login/", response)
    assert response.status_code == 401
