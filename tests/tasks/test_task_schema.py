"""The OpenAPI schema of the task endpoints declares what they answer: the statuses
conditional requests produce, the headers they read and the headers they send."""

import pytest
from drf_spectacular.generators import SchemaGenerator

TASK = "/api/v1/tasks/{id}/"
TASKS = "/api/v1/tasks/"
# Every GET of the task API gets an ETag and answers If-None-Match with a 304
# (the task's own ETag, or ConditionalGetMiddleware's hash of a list's body).
CONDITIONAL_GETS = [
    TASKS,
    TASK,
    "/api/v1/tasks/statistics/",
    "/api/v1/tasks/{id}/events/",
    "/api/v1/tasks/events/",
]


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def headers_in(operation: dict) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def response_headers(operation: dict, status: str) -> set[str]:
    return set(operation["responses"][status].get("headers", {}))


@pytest.mark.parametrize("path", CONDITIONAL_GETS)
def test_every_get_declares_if_none_match_its_304_and_its_etag(schema, path):
    operation = schema["paths"][path]["get"]

    assert "If-None-Match" in headers_in(operation)
    assert "304" in operation["responses"]
    assert "content" not in operation["responses"]["304"]
    assert "ETag" in response_headers(operation, "200")


def test_get_of_a_task_declares_if_match_and_its_412_in_the_error_shape(schema):
    operation = schema["paths"][TASK]["get"]

    assert "If-Match" in headers_in(operation)
    error = operation["responses"]["412"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_of_a_task_declare_both_preconditions(schema, method):
    operation = schema["paths"][TASK][method]

    assert {"If-Match", "If-None-Match"} <= headers_in(operation)
    assert "412" in operation["responses"]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_updates_declare_the_etag_they_answer(schema, method):
    assert "ETag" in response_headers(schema["paths"][TASK][method], "200")


def test_create_declares_its_etag_and_the_replay_marker(schema):
    operation = schema["paths"][TASKS]["post"]

    assert {"ETag", "Idempotent-Replayed"} <= response_headers(operation, "201")
