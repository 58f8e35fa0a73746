"""What `make fuzz` (scripts/fuzz) found, replayed: fixed requests against the production
server, each answer held to the fuzzer's own checks (no 5xx, a documented status, its
documented content type and body schema) and to the status the case is about.

Replays of what `--checks all` found (`judged`) also let schemathesis decide whether
the request is valid for the schema, and hold the answer to positive_data_acceptance
(a valid request is not refused with a 400) and negative_data_rejection (an invalid
one is refused): the schema and the server must agree.

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
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import (
    CaseMetadata,
    ComponentInfo,
    ExamplesPhaseData,
    GenerationInfo,
    PhaseInfo,
    TestPhase,
)
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.servers import (
    Server,
    migrate,
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
# The checks of `--checks all` that judge one request and its answer.
ALL_CHECKS = [
    *CHECKS,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
LOCATIONS = {
    "query": ParameterLocation.QUERY,
    "headers": ParameterLocation.HEADER,
    "body": ParameterLocation.BODY,
    "path_parameters": ParameterLocation.PATH,
}
UNTHROTTLED = "1000000/min"
NEW_ACCOUNT = {"username": "zz", "email": "zz@b.co", "password": "Quiet-Harbour-Fox-17"}


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
        migrate(env)
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


def judged(schema: Any, method: str, path: str, **parts: Any) -> Any:
    """The case `method path` with `parts` (query, headers, body, path_parameters),
    valid or not for the schema as schemathesis judges it: the fuzzer's own verdict,
    which positive_data_acceptance and negative_data_rejection read."""
    generated = [LOCATIONS[name] for name in parts if name in LOCATIONS]
    meta = CaseMetadata(
        generation=GenerationInfo(time=0.0, mode=GenerationMode.POSITIVE),
        phase=PhaseInfo(
            name=TestPhase.EXAMPLES,
            data=ExamplesPhaseData(
                description=None, parameter=None, parameter_location=None, location=None
            ),
        ),
        components={
            location: ComponentInfo(mode=GenerationMode.POSITIVE) for location in generated
        },
    )
    if "body" in parts:
        parts.setdefault("media_type", "application/json")
    case = schema[f"/api/v1{path}"][method].Case(_meta=meta, **parts)
    for location in generated:
        case._meta.mark_dirty(location)
    return case


def replay(schema: Any, bearer: dict[str, str], method: str, path: str, **parts: Any) -> Any:
    """Send the judged case with the member's token; every single-request check of
    `--checks all` holds. Returns the response and whether the case was valid."""
    headers = {**parts.pop("headers", {})}
    case = judged(schema, method, path, **({"headers": headers} if headers else {}), **parts)
    valid = case.meta.generation.mode.is_positive
    response = case.call(headers=bearer, timeout=10)
    case.validate_response(response, checks=ALL_CHECKS)
    return response, valid


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


# Schema and server disagreements `--checks all` found (positive_data_acceptance,
# negative_data_rejection): now the schema says what the server refuses.


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/tasks/", {"limit": 0}),
        ("/tasks/", {"limit": 101}),
        ("/tasks/", {"offset": -1}),
        ("/files/", {"limit": 0}),
        ("/auth/sessions/", {"limit": 0}),
        ("/tasks/events/", {"limit": 0}),
    ],
)
def test_a_limit_or_offset_out_of_range_is_invalid_for_the_schema_too(schema, bearer, path, query):
    # `limit=0` was valid for the schema and answered 400.
    response, valid = replay(schema, bearer, "GET", path, query=query)

    assert not valid
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]["fields"]) == set(query)


@pytest.mark.parametrize("query", [{"limit": 1}, {"limit": 100, "offset": 0}])
def test_a_limit_in_range_is_valid_and_answered(schema, bearer, query):
    response, valid = replay(schema, bearer, "GET", "/tasks/", query=query)

    assert valid
    assert response.status_code == 200, response.text


def test_an_unknown_body_field_is_invalid_for_the_schema_too(server, schema, bearer):
    # The schema allowed other properties, which the server refuses by name.
    created = requests.post(api(server, "/tasks/"), json={"title": "t"}, headers=bearer, timeout=10)
    response, valid = replay(
        schema,
        bearer,
        "PATCH",
        "/tasks/{id}/",
        path_parameters={"id": created.json()["id"]},
        body={"": None},
    )

    assert not valid
    assert response.status_code == 400, response.text
    assert response.json()["error"]["fields"] == {"": ["Unknown field."]}


def test_an_idempotency_key_past_255_characters_is_invalid_for_the_schema_too(schema, bearer):
    # The schema allowed any key; the server refuses one past 255 characters.
    response, valid = replay(
        schema,
        bearer,
        "POST",
        "/tasks/",
        headers={"Idempotency-Key": "k" * 256},
        body={"title": "t"},
    )

    assert not valid
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]["fields"]) == {"Idempotency-Key"}


@pytest.mark.parametrize(
    ("content", "data", "field"),
    [
        # A form has no null: "null" is text, and the schema said the task was nullable.
        (png_bytes(), {"task": "null"}, "task"),
        # An empty file: the schema said any bytes.
        (b"", {}, "file"),
    ],
    ids=["task-null", "empty-file"],
)
def test_an_upload_the_schema_calls_invalid_is_a_documented_400(
    server, schema, bearer, content, data, field
):
    response = requests.post(
        api(server, "/files/"),
        files={"file": ("red.png", content, "image/png")},
        data=data,
        headers=bearer,
        timeout=10,
    )

    conforms(schema, "POST", "/api/v1/files/", response)
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]["fields"]) == {field}


@pytest.mark.parametrize(
    ("method", "path", "parts", "fields"),
    [
        # Login names one account: both, or neither, were valid for the schema.
        (
            "POST",
            "/auth/login/",
            {"body": {"username": "a", "email": "a@example.com", "password": "x"}},
            {"username", "email"},
        ),
        ("POST", "/auth/login/", {"body": {"password": "x"}}, {"username"}),
        # A new password goes with the current one, and the current one with a new one.
        ("PATCH", "/users/me/", {"body": {"current_password": "x"}}, {"password"}),
        (
            "PATCH",
            "/users/me/",
            {"body": {"password": "Another-Strong-Pass-9"}},
            {"current_password"},
        ),
        # Text fields refuse NUL, which the schema allowed.
        ("POST", "/tasks/", {"body": {"title": "a\u0000"}}, {"title"}),
        # A JSON value of another type was coerced: 0 became the title "0".
        ("POST", "/tasks/", {"body": {"title": 0}}, {"title"}),
        ("POST", "/tasks/", {"body": {"title": "a", "assignee": "1"}}, {"assignee"}),
        # An empty filter value was read as no filter.
        ("GET", "/tasks/", {"query": {"due_before": ""}}, {"due_before"}),
        ("GET", "/files/", {"query": {"task": ""}}, {"task"}),
        # A parameter of one value given twice: the last one won.
        ("GET", "/tasks/", {"query": {"limit": [5, 6]}}, {"limit"}),
        ("GET", "/tasks/events/", {"query": {"after": [1, 0]}}, {"after"}),
        # `format: email` took a one-letter top-level domain, which Django refuses.
        ("POST", "/auth/register/", {"body": {**NEW_ACCOUNT, "email": "zz@b.c"}}, {"email"}),
        ("PATCH", "/users/me/", {"body": {"email": "zz@b.c"}}, {"email"}),
        # Spaces around a new name were trimmed away; the schema's patterns refuse them.
        ("POST", "/auth/register/", {"body": {**NEW_ACCOUNT, "email": " zz@b.co"}}, {"email"}),
        # maxLength counts the title as sent; the server counted what trimming left.
        ("POST", "/tasks/", {"body": {"title": "x" + " " * 250}}, {"title"}),
    ],
    ids=[
        "login-both",
        "login-neither",
        "current-password-alone",
        "password-alone",
        "nul-in-title",
        "number-as-title",
        "string-as-assignee",
        "empty-date-filter",
        "empty-task-filter",
        "limit-twice",
        "after-twice",
        "one-letter-tld",
        "one-letter-tld-of-me",
        "email-with-a-space",
        "title-long-with-spaces",
    ],
)
def test_a_request_the_schema_calls_invalid_is_refused_naming_the_field(
    schema, bearer, method, path, parts, fields
):
    response, valid = replay(schema, bearer, method, path, **parts)

    assert not valid
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]["fields"]) == fields


@pytest.mark.parametrize(
    ("username", "email"),
    [
        ("zz_1", "zz+1@b.co"),
        ("zz_2", '"zz\\ 2"@b.co'),
        ("zz_3", "zz+3@localhost"),
        ("zz_4", "zz+4@xn--bcher-kva.de"),
        ("zz_5", "zz+5@[2001:db8::1]"),
    ],
    ids=["plain", "quoted", "localhost", "punycode-domain", "ipv6-literal"],
)
def test_an_email_the_schema_calls_valid_registers(schema, bearer, username, email):
    # The schema's pattern is Django's validator: what it takes, the server takes.
    response, valid = replay(
        schema,
        bearer,
        "POST",
        "/auth/register/",
        body={**NEW_ACCOUNT, "username": username, "email": email},
    )

    assert valid
    assert response.status_code == 201, response.text
    assert response.json()["email"] == email


def test_a_malformed_if_match_is_invalid_for_the_schema_and_a_400(server, schema, bearer):
    # An unquoted tag was a 412 (read as another version); the schema had no pattern.
    created = requests.post(api(server, "/tasks/"), json={"title": "t"}, headers=bearer, timeout=10)
    task = {"id": created.json()["id"]}

    response, valid = replay(
        schema, bearer, "DELETE", "/tasks/{id}/", path_parameters=task, headers={"If-Match": "0"}
    )

    assert not valid
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]["fields"]) == {"If-Match"}


def test_the_current_etag_as_if_match_is_valid_and_honoured(server, schema, bearer):
    created = requests.post(api(server, "/tasks/"), json={"title": "t"}, headers=bearer, timeout=10)
    task = {"id": created.json()["id"]}

    response, valid = replay(
        schema,
        bearer,
        "DELETE",
        "/tasks/{id}/",
        path_parameters=task,
        headers={"If-Match": created.headers["ETag"]},
    )

    assert valid
    assert response.status_code == 204, response.text


# Projects, members and labels (issue #23): where the schema and the server must agree.


@pytest.fixture(scope="module")
def project(server: Server, bearer: dict[str, str]) -> dict[str, Any]:
    created = requests.post(
        api(server, "/projects/"), json={"name": "Fuzzed"}, headers=bearer, timeout=10
    )
    assert created.status_code == 201, created.text
    return created.json()


@pytest.mark.parametrize(
    ("method", "path", "body", "fields"),
    [
        # A member is named by username or by email, not both and not neither.
        (
            "POST",
            "/projects/{id}/members/",
            {"username": "zz", "email": "zz@b.co"},
            {"username"},
        ),
        ("POST", "/projects/{id}/members/", {"role": "viewer"}, {"username"}),
        # A role change is a PATCH whose one field is required.
        ("PATCH", "/projects/{id}/members/{user_id}/", {}, {"role"}),
        ("POST", "/projects/{id}/labels/", {"name": "Bug", "color": "red"}, {"color"}),
        ("POST", "/projects/{id}/labels/", {"name": "Bug", "color": "#aa0000 "}, {"color"}),
        ("POST", "/projects/{id}/labels/", {"name": "x" * 51, "color": "#aa0000"}, {"name"}),
        ("PATCH", "/projects/{id}/", {"name": "x" * 101}, {"name"}),
        ("PATCH", "/projects/{id}/", {"name": "  "}, {"name"}),
    ],
    ids=[
        "member-both",
        "member-neither",
        "role-missing",
        "color-word",
        "color-trailing-space",
        "label-name-51",
        "project-name-101",
        "project-name-blank",
    ],
)
def test_a_project_request_the_schema_calls_invalid_is_refused_naming_the_field(
    schema, bearer, member, project, method, path, body, fields
):
    ids = {"id": project["id"], "user_id": member["id"]}
    parameters = {name: ids[name] for name in ids if f"{{{name}}}" in path}

    response, valid = replay(schema, bearer, method, path, path_parameters=parameters, body=body)

    assert not valid
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]["fields"]) == fields


@pytest.mark.parametrize(
    ("method", "path", "parts", "status"),
    [
        ("POST", "/projects/{id}/labels/", {"body": {"name": "Bug", "color": "#AA0000"}}, 201),
        ("PATCH", "/projects/{id}/", {"body": {"description": "  spaced  "}}, 200),
        # Ids from 0 (which matches nothing) to the largest 64-bit one.
        ("GET", "/tasks/", {"query": {"project": [0, 2**63 - 1]}}, 200),
        ("GET", "/tasks/statistics/", {"query": {"project": [1], "include_archived": "true"}}, 200),
    ],
    ids=["label", "project-description", "task-list-projects", "statistics-projects"],
)
def test_a_project_request_the_schema_calls_valid_is_answered(
    schema, bearer, project, method, path, parts, status
):
    if "{id}" in path:
        parts = {**parts, "path_parameters": {"id": project["id"]}}

    response, valid = replay(schema, bearer, method, path, **parts)

    assert valid
    assert response.status_code == status, response.text
