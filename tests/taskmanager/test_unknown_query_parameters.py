"""A query parameter an endpoint does not declare is a 400 naming it, on every
endpoint and method (taskmanager/query_parameters.py); the declared ones and DRF's
`format` are accepted.

The operations come from the OpenAPI document and the views from the URL conf, so a
new endpoint is covered without a change here.
"""

import functools
import re
from typing import Any

import jsonschema
import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import UserSession
from accounts.services import personal_token_create
from comments.services import comment_create
from files.models import File
from notifications.models import Notification
from projects.services import label_create
from taskmanager.query_parameters import StrictQueryParametersMixin, admits_empty
from tasks import caching
from tasks.services import relation_create
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import assert_error, upload
from webhooks.services import webhook_create, webhook_test

TASKS_URL = "/api/v1/tasks/"
UNKNOWN = "Unknown query parameter."
DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in {"get", "put", "post", "patch", "delete"}
]
DECLARED = [
    (method, path, parameter)
    for method, path, operation in OPERATIONS
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query"
]


def _label(method: str, path: str) -> str:
    return f"{method} {path}"


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append((route, pattern.callback))
    return found


API_ROUTES = [
    (route, callback)
    for route, callback in _routes(get_resolver().url_patterns)
    if route.startswith(("api/v1/", "api/schema/", "api/asyncapi/"))
]


def _sample(schema: dict[str, Any]) -> str:
    """A valid value of a query parameter, from its schema."""
    if "example" in schema:
        return str(schema["example"])
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "array":
        return _sample(schema["items"])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    if schema.get("type") == "boolean":
        return "true"
    return "word"


@pytest.fixture
def url(admin: Any, admin_client: APIClient, media_root: Any) -> Any:
    """The operation's path with ids of objects the admin owns (a project's member: a
    member of the admin's project; a webhook of that project, and the delivery of its
    test message). Each object is made when a path first names its kind: most paths
    name none or one, and making them all cost each of these tests 0.16 s."""

    @functools.cache
    def task() -> Any:
        return TaskFactory(owner=admin)

    @functools.cache
    def project() -> Any:
        return shared_project(admin, UserFactory())

    def other() -> Any:
        return project().memberships.exclude(user=admin).get().user

    @functools.cache
    def shared_task() -> Any:
        return TaskFactory(owner=admin, project=project())

    @functools.cache
    def comment() -> Any:
        return comment_create(actor=admin, task=shared_task(), body="Mine")

    def notification() -> Any:
        comment()
        comment_create(actor=other(), task=shared_task(), body="Noted")  # tells the admin
        return Notification.objects.get(user=admin)

    @functools.cache
    def webhook() -> Any:
        return webhook_create(
            actor=admin,
            project_id=project().pk,
            url="https://hooks.example.com/taskmanager",
            event_types=[],
            description="The admin's",
        )

    makers = {
        "tasks": task,
        "files": lambda: upload(admin_client, task=task())["id"],
        "sessions": lambda: UserSession.objects.filter(user=admin).latest("created_at"),
        "users": lambda: admin,
        "projects": project,
        "labels": lambda: label_create(
            actor=admin, project_id=project().pk, name="Bug", color="#aa0000"
        ),
        "members": other,
        "comments": comment,
        "relations": lambda: relation_create(
            actor=admin, task=task(), kind="relates_to", other_id=TaskFactory(owner=admin).pk
        ),
        "notifications": notification,
        "tokens": lambda: (
            personal_token_create(
                user=admin, name="script", scopes=["tasks:read"], expires_at=None
            ).token
        ),
        "webhooks": webhook,
        "deliveries": lambda: webhook_test(webhook=webhook(), actor=admin),
    }

    def _id(kind: str) -> int:
        made = makers[kind]()
        return made if isinstance(made, int) else made.pk

    def _url(path: str) -> str:
        # Each id of the path, of the kind named before it (`/members/{user_id}/`).
        return re.sub(r"/(\w+)/\{\w+\}", lambda m: f"/{m[1]}/{_id(m[1])}", path)

    return _url


@pytest.fixture
def sample(admin_client: APIClient) -> Any:
    """A valid value of a query parameter: from its schema, or for a value only the
    server makes (a /sync/ cursor, bound to its user), one it gave the admin."""

    def _value(path: str, parameter: dict[str, Any]) -> str:
        if (path, parameter["name"]) == ("/api/v1/sync/", "cursor"):
            response = admin_client.get(path)
            assert response.status_code == 200, response.content
            return str(response.json()["cursor"])
        return _sample(parameter.get("schema", {}))

    return _value


def _unknown_fields(response: Any) -> dict[str, Any]:
    if response.status_code != 400 or not response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return {}
    fields = response.json()["error"]["fields"]
    return {name: messages for name, messages in fields.items() if UNKNOWN in messages}


@pytest.mark.parametrize(
    ("method", "path"),
    [(method, path) for method, path, _ in OPERATIONS],
    ids=[_label(method, path) for method, path, _ in OPERATIONS],
)
def test_a_made_up_query_parameter_is_refused_by_name(admin_client, url, method, path):
    response = admin_client.generic(method, url(path) + "?stauts=done&page=2")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"stauts": [UNKNOWN], "page": [UNKNOWN]}


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    DECLARED,
    ids=[f"{_label(method, path)} {parameter['name']}" for method, path, parameter in DECLARED],
)
def test_a_declared_query_parameter_with_a_valid_value_is_accepted(
    admin_client, url, sample, method, path, parameter
):
    query = {parameter["name"]: sample(path, parameter)}

    response = admin_client.generic(method, url(path), QUERY_STRING=_query(query))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("method", "path"),
    [(method, path) for method, path, _ in OPERATIONS],
    ids=[_label(method, path) for method, path, _ in OPERATIONS],
)
def test_the_format_parameter_is_accepted_everywhere(admin_client, url, method, path):
    response = admin_client.generic(method, url(path) + "?format=json")

    assert _unknown_fields(response) == {}
    if method == "GET":
        assert response.status_code == 200, response.content


def _query(values: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


def test_every_api_view_checks_its_query_parameters():
    assert API_ROUTES  # the URL conf was read
    unchecked = [
        route
        for route, callback in API_ROUTES
        if not issubclass(getattr(callback, "cls", object), StrictQueryParametersMixin)
    ]

    assert unchecked == []


def test_the_task_list_refuses_a_typo_however_its_cache_stands(member, member_client):
    TaskFactory(owner=member, status="completed")
    assert member_client.get(TASKS_URL).status_code == 200  # the cache is warm
    url = f"{TASKS_URL}?stauts=done"
    # An entry for the very URL (written before this rule, or by another release).
    caching.cached(member, "list", f"http://testserver{url}", lambda: {"count": 0})

    response = member_client.get(url)

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"stauts": [UNKNOWN]}
    assert member_client.get(TASKS_URL).json()["count"] == 1


def test_unknown_parameters_and_invalid_values_come_back_together(member_client):
    response = member_client.get(TASKS_URL, {"stauts": "done", "priority": "urgent", "limit": 0})

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"stauts", "priority", "limit"}
    assert error["fields"]["stauts"] == [UNKNOWN]
    assert UNKNOWN not in error["fields"]["priority"]


def test_an_invalid_after_comes_back_with_an_unknown_parameter(member_client):
    response = member_client.get(f"{TASKS_URL}events/", {"after": "-1", "since": "3"})

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"after", "since"}


def test_a_filter_of_the_list_is_unknown_on_one_task(member, member_client):
    task = TaskFactory(owner=member)

    response = member_client.get(f"{TASKS_URL}{task.pk}/", {"status": "pending"})

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"status": [UNKNOWN]}


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_refuse_unknown_parameters_too(member_client, method):
    response = member_client.generic(method, f"{TASKS_URL}?stauts=done")

    assert response.status_code == 400


def test_head_accepts_what_get_declares(member_client):
    assert member_client.head(TASKS_URL, {"status": "pending"}).status_code == 200


def test_a_method_the_endpoint_lacks_is_still_a_405(member_client):
    response = member_client.put(f"{TASKS_URL}?stauts=done", {}, format="json")

    assert_error(response, 405, "method_not_allowed")


def test_an_anonymous_request_is_a_401_before_its_parameters_are_read(api_client):
    response = api_client.get(f"{TASKS_URL}?stauts=done")

    assert_error(response, 401, "not_authenticated")


def test_the_public_auth_endpoints_refuse_unknown_parameters(api_client):
    response = api_client.post(
        "/api/v1/auth/login/?next=/", {"username": "x", "password": "y"}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"next": [UNKNOWN]}


def test_the_browsable_api_keeps_working(member_client):
    response = member_client.get(TASKS_URL, {"format": "api", "status": "pending"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_the_browsable_api_shows_an_unknown_parameter_as_an_error(member_client):
    response = member_client.get(TASKS_URL, {"format": "api", "stauts": "done"})

    assert response.status_code == 400


def test_repeating_a_declared_parameter_is_no_unknown_one(member, member_client):
    TaskFactory(owner=member, status="pending")
    TaskFactory(owner=member, status="completed")

    response = member_client.get(f"{TASKS_URL}?status=pending&status=completed")

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 2


@pytest.mark.parametrize(
    ("query", "status"),
    [("format=json", 200), ("format=json&lang=en", 200), ("lang=de", 200), ("fromat=json", 400)],
)
def test_the_schema_follows_the_same_rule_with_its_lang(client, query, status):
    response = client.get(f"/api/schema/?{query}")

    assert response.status_code == status
    if status == 400:
        assert assert_error(response, 400, "validation_error")["fields"] == {"fromat": [UNKNOWN]}


def test_the_asyncapi_document_follows_the_same_rule(client):
    assert client.get("/api/asyncapi/?format=json").status_code == 200
    response = client.get("/api/asyncapi/?version=2")

    assert assert_error(response, 400, "validation_error")["fields"] == {"version": [UNKNOWN]}


def test_a_file_download_refuses_unknown_parameters(member_client, media_root):
    file = upload(member_client)

    response = member_client.get(f"/api/v1/files/{file['id']}/download/?inline=1")

    assert assert_error(response, 400, "validation_error")["fields"] == {"inline": [UNKNOWN]}
    assert File.objects.filter(pk=file["id"]).exists()


# --- empty values ---------------------------------------------------------------------

NEEDS_VALUE = "Give a value or leave the parameter out."


def _admits_empty(schema: dict[str, Any]) -> bool:
    """Whether the schema admits `?name=` (for an array, one empty item)."""
    if schema.get("type") in {"integer", "number", "boolean"}:
        return False
    value: Any = [""] if schema.get("type") == "array" else ""
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    return validator.is_valid(value)


NEED_VALUE = [
    (method, path, parameter)
    for method, path, parameter in DECLARED
    if not _admits_empty(parameter.get("schema", {}))
]
ADMIT_EMPTY = [item for item in DECLARED if item not in NEED_VALUE]


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    NEED_VALUE,
    ids=[f"{_label(method, path)} {parameter['name']}" for method, path, parameter in NEED_VALUE],
)
def test_an_empty_value_the_schema_does_not_admit_is_refused_by_name(
    admin_client, url, method, path, parameter
):
    response = admin_client.generic(method, url(path) + f"?{parameter['name']}=")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {parameter["name"]: [NEEDS_VALUE]}


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    ADMIT_EMPTY,
    ids=[f"{_label(method, path)} {parameter['name']}" for method, path, parameter in ADMIT_EMPTY],
)
def test_an_empty_value_the_schema_admits_is_accepted(admin_client, url, method, path, parameter):
    response = admin_client.generic(method, url(path) + f"?{parameter['name']}=")

    assert response.status_code == 200, response.content


def test_the_typed_filters_and_pages_need_a_value():
    names = {(path, parameter["name"]) for _, path, parameter in NEED_VALUE}

    assert {
        (TASKS_URL, name)
        for name in ("assignee", "due_after", "due_before", "overdue", "priority", "status")
    } | {
        (path, name)
        for path in (TASKS_URL, f"{TASKS_URL}statistics/")
        for name in ("project", "include_archived")
    } | {
        ("/api/v1/projects/", "archived"),
        ("/api/v1/files/", "task"),
        (TASKS_URL, "limit"),
        (TASKS_URL, "offset"),
        (f"{TASKS_URL}events/", "after"),
        ("/api/v1/sync/", "cursor"),
        ("/api/v1/webhooks/{webhook_id}/deliveries/", "status"),
        ("/api/v1/webhooks/{webhook_id}/deliveries/", "limit"),
        ("/api/v1/tasks/export.csv", "status"),
    } <= names
    assert (TASKS_URL, "search") not in names


def test_an_empty_due_before_filters_nothing_away_silently(member, member_client):
    TaskFactory(owner=member)

    response = member_client.get(f"{TASKS_URL}?due_before=")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"due_before": [NEEDS_VALUE]}


def test_an_empty_search_is_no_search(member, member_client):
    TaskFactory(owner=member)

    response = member_client.get(f"{TASKS_URL}?search=")

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1


def test_an_empty_value_among_repeated_ones_is_refused(member_client):
    response = member_client.get(f"{TASKS_URL}?status=pending&status=")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"status": [NEEDS_VALUE]}


@pytest.mark.parametrize("query", ["status=pending,completed", "status=pending&status=completed"])
def test_several_statuses_are_still_one_value_each(member, member_client, query):
    TaskFactory(owner=member, status="pending")
    TaskFactory(owner=member, status="completed")

    response = member_client.get(f"{TASKS_URL}?{query}")

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 2


def test_empty_values_come_back_with_unknown_parameters_and_invalid_values(member_client):
    response = member_client.get(f"{TASKS_URL}?due_after=&stauts=done&priority=urgent&limit=")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"due_after", "stauts", "priority", "limit"}
    assert error["fields"]["due_after"] == error["fields"]["limit"] == [NEEDS_VALUE]
    assert error["fields"]["stauts"] == [UNKNOWN]
    assert error["fields"]["priority"] not in ([UNKNOWN], [NEEDS_VALUE])


@pytest.mark.parametrize(
    ("schema", "admitted"),
    [
        ({"type": "string"}, True),
        ({"type": "string", "maxLength": 200, "pattern": "^[^\\x00]*$"}, True),
        ({"type": "string", "minLength": 1}, False),
        ({"type": "string", "pattern": "^[a-z]+$"}, False),
        ({"type": "string", "format": "date-time"}, False),
        ({"type": "string", "enum": ["a", "b"]}, False),
        ({"type": "string", "enum": ["", "a"]}, True),
        ({"type": "integer"}, False),
        ({"type": "boolean"}, False),
        ({"type": "array", "items": {"type": "string", "enum": ["a"]}}, False),
        ({"type": "array", "items": {"type": "string"}}, True),
        ({"$ref": "#/components/schemas/Colour"}, False),
        ({"allOf": [{"$ref": "#/components/schemas/Colour"}]}, False),
        ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, True),
    ],
)
def test_an_empty_value_is_admitted_as_the_schema_says(schema, admitted):
    document = {"components": {"schemas": {"Colour": {"type": "string", "enum": ["red"]}}}}

    assert admits_empty(schema, document) is admitted


ONCE = "Give this parameter once."
SINGLE = [
    (method, path, parameter)
    for method, path, parameter in DECLARED
    if parameter.get("schema", {}).get("type") != "array"
]
ARRAYS = [item for item in DECLARED if item not in SINGLE]


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    SINGLE,
    ids=[f"{_label(method, path)} {parameter['name']}" for method, path, parameter in SINGLE],
)
def test_a_parameter_of_one_value_given_twice_is_refused_by_name(
    admin_client, url, sample, method, path, parameter
):
    value = sample(path, parameter)
    query = _query({parameter["name"]: value}) + "&" + _query({parameter["name"]: value})

    response = admin_client.generic(method, url(path), QUERY_STRING=query)

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {parameter["name"]: [ONCE]}


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    ARRAYS,
    ids=[f"{_label(method, path)} {parameter['name']}" for method, path, parameter in ARRAYS],
)
def test_an_array_parameter_may_be_repeated(admin_client, url, method, path, parameter):
    value = _sample(parameter.get("schema", {}))
    query = _query({parameter["name"]: value}) + "&" + _query({parameter["name"]: value})

    response = admin_client.generic(method, url(path), QUERY_STRING=query)

    assert response.status_code == 200, response.content


def test_the_last_limit_no_longer_wins_silently(member, member_client):
    TaskFactory.create_batch(3, owner=member)

    response = member_client.get(f"{TASKS_URL}?limit=1&limit=2&stauts=x")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"limit": [ONCE], "stauts": [UNKNOWN]}
