"""Request bodies are JSON, as the schema says: a form or multipart body to a JSON
endpoint is a 415 naming what is accepted. Forms remain only where OAuth2 and
uploads need them."""

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from comments.services import comment_create
from projects.services import label_create, project_create
from tests.factories import PASSWORD, TaskFactory
from tests.helpers import assert_error
from webhooks.services import webhook_create

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=xx"
MULTIPART_BODY = (
    b'--xx\r\nContent-Disposition: form-data; name="title"\r\n\r\nA title\r\n--xx--\r\n'
)


def json_writes() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method)
        for path, item in sorted(schema["paths"].items())
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


def test_the_json_endpoints_are_every_write_but_the_token_grant_and_uploads():
    writes = {path for path, _ in json_writes()}

    assert {"/api/v1/auth/login/", "/api/v1/tasks/", "/api/v1/users/me/"} <= writes
    assert not {"/api/v1/auth/token/", "/api/v1/files/"} & writes


@pytest.fixture
def _generous_throttle_rates(settings: Any) -> None:
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        **dict.fromkeys(("read", "write", "login", "login_ip"), "10000/min"),
    }


@pytest.mark.usefixtures("_generous_throttle_rates")
@pytest.mark.parametrize(("path", "method"), json_writes())
@pytest.mark.parametrize(
    ("content_type", "body"),
    [(FORM, urlencode({"title": "A title"})), (MULTIPART, MULTIPART_BODY)],
    ids=["form", "multipart"],
)
def test_a_form_body_to_a_json_endpoint_is_415(
    path, method, content_type, body, admin, admin_client
):
    project = project_create(actor=admin, name="Shared")
    task = TaskFactory(owner=admin)
    ids = {
        "users": admin.pk,
        "tasks": task.pk,
        "projects": project.pk,
        "labels": label_create(actor=admin, project_id=project.pk, name="Bug", color="#aa0000").pk,
        "members": admin.pk,
        "comments": comment_create(actor=admin, task=task, body="Mine").pk,
        "webhooks": webhook_create(
            actor=admin,
            project_id=project.pk,
            url="https://hooks.example.com/taskmanager",
            event_types=[],
            description="Mine",
        ).pk,
    }
    # Each id of the path, of the kind named before it (`/members/{user_id}/`: a user's).
    url = re.sub(r"/(\w+)/\{[^}]+\}", lambda m: f"/{m[1]}/{ids[m[1]]}", path)

    response = getattr(admin_client, method)(url, body, content_type=content_type)

    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]


@pytest.mark.usefixtures("_generous_throttle_rates")
def test_the_oauth2_password_grant_still_takes_a_form(member):
    body = {"grant_type": "password", "username": member.username, "password": PASSWORD}

    response = APIClient().post("/api/v1/auth/token/", urlencode(body), content_type=FORM)

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.usefixtures("_generous_throttle_rates")
def test_the_oauth2_password_grant_takes_no_json(member):
    body = {"grant_type": "password", "username": member.username, "password": PASSWORD}

    response = APIClient().post("/api/v1/auth/token/", body, format="json")

    assert_error(response, 415, "unsupported_media_type")
