"""In a JSON body a value must have its field's JSON type, as the schema says: a
string for text, choices and dates, true or false for a flag, a whole number for a
number or an id (taskmanager.serializers.StrictFieldsMixin). DRF would convert
`0` to the title "0", `0` to False and `"1"` to the id 1. Forms (the OAuth2 token
grant, uploads) carry text only and keep their rules."""

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from accounts.models import PersonalToken
from accounts.roles import Role
from comments.services import comment_create
from projects.services import label_create
from taskmanager.serializers import StrictFieldsMixin, json_type
from tasks.models import Task
from tests.factories import PASSWORD, TaskFactory, shared_project
from tests.helpers import assert_error
from webhooks.models import Webhook
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db

STRING = ["Must be a string."]
BOOLEAN = ["Must be true or false."]
WHOLE_NUMBER = ["Must be a whole number."]
LIST = ["Must be a list."]

DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
# Values of another JSON type than the schema's, with what the answer says of them.
WRONG = {
    "string": ([0, 1.5, True, ["a"], {"a": "b"}], STRING),
    "integer": (["1", 1.0, 1.5, True, [1]], WHOLE_NUMBER),
    "boolean": ([0, 1, "true", "yes", [True]], BOOLEAN),
    # A token's scopes, a webhook's event types, a task's labels, a bulk's ids.
    "array": (["a", 1, True, {"a": "b"}], LIST),
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = DOCUMENT["components"]["schemas"][schema["$ref"].split("/")[-1]]
        elif "allOf" in schema and "type" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def _json_body_properties() -> list[tuple[str, str, str, str]]:
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            component = _resolve(content["application/json"]["schema"])
            for name, schema in component["properties"].items():
                kind = _resolve(schema).get("type")
                if not schema.get("readOnly") and kind in WRONG:
                    found.append((method.upper(), path, name, kind))
    return found


PROPERTIES = _json_body_properties()
CASES = [
    (method, path, name, value, WRONG[kind][1])
    for method, path, name, kind in PROPERTIES
    for value in WRONG[kind][0]
]


def fields_of(response: Any) -> dict[str, list[str]]:
    return assert_error(response, 400, "validation_error")["fields"]


def test_every_json_body_of_the_schema_is_covered():
    operations = {(method, path) for method, path, *_ in PROPERTIES}

    assert operations == {
        ("POST", "/api/v1/auth/login/"),
        ("POST", "/api/v1/auth/refresh/"),
        ("POST", "/api/v1/auth/register/"),
        ("POST", "/api/v1/tasks/"),
        ("PUT", "/api/v1/tasks/{id}/"),
        ("PATCH", "/api/v1/tasks/{id}/"),
        ("PATCH", "/api/v1/users/{id}/"),
        ("PATCH", "/api/v1/users/me/"),
        ("POST", "/api/v1/projects/"),
        ("PATCH", "/api/v1/projects/{id}/"),
        ("POST", "/api/v1/projects/{id}/members/"),
        ("PATCH", "/api/v1/projects/{id}/members/{user_id}/"),
        ("POST", "/api/v1/projects/{id}/labels/"),
        ("PATCH", "/api/v1/labels/{id}/"),
        ("POST", "/api/v1/tasks/{task_id}/comments/"),
        ("PATCH", "/api/v1/comments/{id}/"),
        ("POST", "/api/v1/tasks/{id}/move/"),
        ("POST", "/api/v1/tasks/{id}/relations/"),
        # Arrays only: `ids`, `add_labels`, `remove_labels` (`set` is an object).
        ("POST", "/api/v1/tasks/bulk/"),
        ("POST", "/api/v1/tasks/bulk-delete/"),
        # Personal API tokens and webhooks.
        ("POST", "/api/v1/auth/tokens/"),
        ("POST", "/api/v1/webhooks/"),
        ("PATCH", "/api/v1/webhooks/{id}/"),
    }


@pytest.mark.parametrize(
    ("method", "path", "name", "value", "message"),
    CASES,
    ids=[f"{method} {path} {name}={value!r}" for method, path, name, value, _ in CASES],
)
def test_a_value_of_another_json_type_than_the_schemas_is_refused_by_name(
    admin, admin_client, member, method, path, name, value, message
):
    project = shared_project(admin, member)
    task = TaskFactory(owner=admin)
    ids = {
        "tasks": task.pk,
        "users": member.pk,
        "projects": project.pk,
        "members": member.pk,
        "labels": label_create(actor=admin, project_id=project.pk, name="Bug", color="#aa0000").pk,
        "comments": comment_create(actor=admin, task=task, body="Mine").pk,
        "webhooks": webhook_create(
            actor=admin,
            project_id=project.pk,
            url="https://hooks.example.com/taskmanager",
            event_types=[],
            description="Mine",
        ).pk,
    }
    # Each id of the path, of the kind named before it (`/members/{user_id}/`).
    path = re.sub(r"/(\w+)/\{\w+\}", lambda m: f"/{m[1]}/{ids[m[1]]}", path)

    response = admin_client.generic(
        method, path, data=json.dumps({name: value}), content_type="application/json"
    )

    assert fields_of(response)[name] == message


def test_a_number_for_a_title_creates_no_task(member_client):
    response = member_client.post("/api/v1/tasks/", {"title": 0}, format="json")

    assert fields_of(response) == {"title": STRING}
    assert not Task.objects.exists()


def test_a_string_for_an_assignee_is_no_id(member, member_client):
    response = member_client.post(
        "/api/v1/tasks/", {"title": "T", "assignee": str(member.pk)}, format="json"
    )

    assert fields_of(response) == {"assignee": WHOLE_NUMBER}


def test_a_zero_deactivates_nobody(admin_client, member):
    response = admin_client.patch(
        f"/api/v1/users/{member.pk}/", {"is_active": 0, "role": "admin"}, format="json"
    )

    assert fields_of(response) == {"is_active": BOOLEAN}
    member.refresh_from_db()
    assert member.is_active
    assert member.role == Role.MEMBER


def test_the_type_is_said_instead_of_the_fields_own_message(admin_client, member):
    response = admin_client.patch(f"/api/v1/users/{member.pk}/", {"is_active": "maybe"})

    assert fields_of(response) == {"is_active": BOOLEAN}


def test_wrong_types_come_back_with_unknown_and_invalid_fields(member, member_client):
    task = TaskFactory(owner=member)

    response = member_client.patch(
        f"/api/v1/tasks/{task.pk}/",
        {"title": 7, "description": False, "status": "done", "version": 9, "foo": 1},
    )

    fields = fields_of(response)
    assert set(fields) == {"title", "description", "status", "version", "foo"}
    assert fields["title"] == fields["description"] == STRING
    assert fields["status"] != STRING  # not a type error: no such status
    assert fields["version"] == ["This field is read-only."]
    assert fields["foo"] == ["Unknown field."]


def test_checks_across_fields_do_not_run_on_a_value_of_the_wrong_type(member, member_client):
    # DRF would check the text "12345678" as the current password, and say it is wrong.
    response = member_client.patch(
        "/api/v1/users/me/", {"password": "A-new-passphrase-9", "current_password": 12345678}
    )

    assert fields_of(response) == {"current_password": STRING}
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_null_is_refused_where_the_field_is_not_nullable(member_client):
    response = member_client.post("/api/v1/tasks/", {"title": None, "status": None})

    assert fields_of(response) == {
        "title": ["This field may not be null."],
        "status": ["This field may not be null."],
    }


def test_values_of_the_right_types_are_accepted(member, member_client):
    body = {
        "title": "Plan",
        "description": "",
        "priority": "high",
        "status": "in_progress",
        "due_date": "2031-01-01T12:00:00Z",
        "assignee": member.pk,
    }

    response = member_client.post("/api/v1/tasks/", body)

    assert response.status_code == 201, response.content
    assert {key: response.json()[key] for key in body} == body


def test_null_clears_the_nullable_fields(member, member_client):
    task = TaskFactory(owner=member, assignee=member)

    response = member_client.patch(
        f"/api/v1/tasks/{task.pk}/", {"due_date": None, "assignee": None}
    )

    assert response.status_code == 200, response.content
    assert response.json()["assignee"] is None


def test_a_flag_takes_false(admin_client, member):
    response = admin_client.patch(f"/api/v1/users/{member.pk}/", {"is_active": False})

    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False


def test_a_scope_that_is_not_a_list_creates_no_token(member_client):
    response = member_client.post(
        "/api/v1/auth/tokens/", {"name": "script", "scopes": "tasks:read"}, format="json"
    )

    assert fields_of(response) == {"scopes": LIST}
    assert not PersonalToken.objects.exists()


def test_each_scope_of_another_type_is_named_by_its_place(member_client):
    response = member_client.post(
        "/api/v1/auth/tokens/",
        {"name": 7, "scopes": ["tasks:read", 1, True]},
        format="json",
    )

    assert fields_of(response) == {
        "name": STRING,
        "scopes": ["Item 1: Must be a string.", "Item 2: Must be a string."],
    }
    assert not PersonalToken.objects.exists()


def test_a_token_takes_values_of_the_right_types(member_client):
    expires_at = (timezone.now() + timedelta(days=30)).isoformat()
    body = {"name": "script", "scopes": ["tasks:read"], "expires_at": expires_at}

    response = member_client.post("/api/v1/auth/tokens/", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["scopes"] == ["tasks:read"]


@pytest.fixture
def webhook(admin: Any) -> Webhook:
    return webhook_create(
        actor=admin,
        project_id=None,
        url="https://hooks.example.com/taskmanager",
        event_types=[],
        description="Every event",
    )


def test_a_zero_turns_no_webhook_off(admin_client, webhook):
    response = admin_client.patch(
        f"/api/v1/webhooks/{webhook.pk}/",
        {"is_active": 0, "url": 1, "event_types": "task.created"},
        format="json",
    )

    assert fields_of(response) == {"is_active": BOOLEAN, "url": STRING, "event_types": LIST}
    webhook.refresh_from_db()
    assert (webhook.is_active, webhook.url, webhook.event_types) == (
        True,
        "https://hooks.example.com/taskmanager",
        [],
    )


def test_a_string_for_a_project_registers_no_webhook(admin_client, admin):
    project = shared_project(admin)

    response = admin_client.post(
        "/api/v1/webhooks/",
        {"url": "https://hooks.example.com/x", "project": str(project.pk)},
        format="json",
    )

    assert fields_of(response) == {"project": WHOLE_NUMBER}
    assert not Webhook.objects.exists()


def test_a_webhook_takes_values_of_the_right_types(admin_client, admin):
    project = shared_project(admin)
    body = {
        "url": "https://hooks.example.com/x",
        "project": project.pk,
        "event_types": ["task.created"],
        "description": "",
        "is_active": False,
    }

    response = admin_client.post("/api/v1/webhooks/", body, format="json")

    assert response.status_code == 201, response.content
    assert {key: response.json()[key] for key in body} == body


def test_the_token_form_still_takes_its_fields_as_text(api_client, member):
    form = {"grant_type": "password", "username": "mia", "password": PASSWORD}

    response = api_client.post(
        "/api/v1/auth/token/", urlencode(form), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200, response.content


def _input_serializers() -> list[type[serializers.Serializer]]:
    get_resolver().url_patterns  # noqa: B018 (imports every view and its serializers)
    found, pending = [], [StrictFieldsMixin]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in {
            "accounts",
            "tasks",
            "files",
            "projects",
            "comments",
            "webhooks",
        }:
            found.append(cls)
    return found


def test_every_field_of_every_input_serializer_has_a_json_type():
    serializers_ = _input_serializers()
    assert len(serializers_) >= 12
    untyped = [
        f"{cls.__name__}.{name}"
        for cls in serializers_
        for name, field in cls().fields.items()
        if not field.read_only
        and not isinstance(field, serializers.FileField)  # a form's part, not JSON
        and json_type(field) is None
    ]

    assert untyped == []
