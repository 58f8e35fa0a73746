"""Every invalid field of a request comes back in one answer: unknown and read-only
body fields with the other fields' errors (taskmanager.serializers.StrictFieldsMixin),
unknown query parameters with invalid filter, pagination and feed values
(taskmanager.query_parameters), on every endpoint that takes input."""

from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from tests.factories import TaskFactory
from tests.files.samples import sample
from tests.helpers import assert_error, post_file

pytestmark = pytest.mark.django_db

UNKNOWN_FIELD = ["Unknown field."]
UNKNOWN_PARAMETER = ["Unknown query parameter."]


def fields_of(response: Any) -> dict[str, list[str]]:
    return assert_error(response, 400, "validation_error")["fields"]


# --- bodies ---------------------------------------------------------------------------


def test_a_task_with_a_bad_priority_and_an_unknown_field_names_both(member_client):
    response = member_client.post(
        "/api/v1/tasks/", {"title": "T", "priority": "urgent", "foo": 1}, format="json"
    )

    fields = fields_of(response)
    assert set(fields) == {"priority", "foo"}
    assert fields["foo"] == UNKNOWN_FIELD


def test_a_task_patch_names_unknown_read_only_and_invalid_fields_together(member, member_client):
    task = TaskFactory(owner=member)

    response = member_client.patch(
        f"/api/v1/tasks/{task.pk}/",
        {"title": "", "status": "done", "version": 7, "stauts": "done"},
        format="json",
    )

    fields = fields_of(response)
    assert set(fields) == {"title", "status", "version", "stauts"}
    assert fields["version"] == ["This field is read-only."]
    assert fields["stauts"] == UNKNOWN_FIELD


def test_register_names_unknown_and_invalid_fields_together(api_client: APIClient):
    response = api_client.post(
        "/api/v1/auth/register/",
        {"username": "", "email": "not-an-email", "password": "x", "is_staff": True},
        format="json",
    )

    fields = fields_of(response)
    assert set(fields) == {"username", "email", "is_staff"}
    assert fields["is_staff"] == UNKNOWN_FIELD


def test_register_runs_its_password_check_beside_an_unknown_field(api_client: APIClient):
    # The fields are valid one by one, so the checks across them run as well.
    response = api_client.post(
        "/api/v1/auth/register/",
        {"username": "newbie", "email": "newbie@example.com", "password": "123", "role": "admin"},
        format="json",
    )

    fields = fields_of(response)
    assert set(fields) == {"password", "role"}
    assert fields["role"] == UNKNOWN_FIELD


def test_login_names_a_missing_password_and_an_unknown_field(api_client: APIClient):
    response = api_client.post(
        "/api/v1/auth/login/", {"username": "mia", "remember": True}, format="json"
    )

    fields = fields_of(response)
    assert set(fields) == {"password", "remember"}
    assert fields["remember"] == UNKNOWN_FIELD


def test_the_token_grant_names_a_bad_grant_type_and_an_unknown_field(api_client: APIClient):
    form = {"grant_type": "client_credentials", "username": "mia", "password": "x", "foo": "1"}

    response = api_client.post(
        "/api/v1/auth/token/",
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )

    fields = fields_of(response)
    assert set(fields) == {"grant_type", "foo"}
    assert fields["foo"] == UNKNOWN_FIELD


def test_refresh_names_a_missing_token_and_an_unknown_field(api_client: APIClient):
    response = api_client.post("/api/v1/auth/refresh/", {"access": "x"}, format="json")

    fields = fields_of(response)
    assert set(fields) == {"refresh", "access"}
    assert fields["access"] == UNKNOWN_FIELD


def test_users_me_names_a_bad_email_and_read_only_and_unknown_fields(member_client):
    response = member_client.patch(
        "/api/v1/users/me/", {"email": "nope", "role": "admin", "nickname": "m"}, format="json"
    )

    fields = fields_of(response)
    assert set(fields) == {"email", "role", "nickname"}
    assert fields["nickname"] == UNKNOWN_FIELD


def test_users_admin_names_a_bad_role_and_an_unknown_field(admin_client, member):
    response = admin_client.patch(
        f"/api/v1/users/{member.pk}/", {"role": "king", "is_staff": True}, format="json"
    )

    fields = fields_of(response)
    assert set(fields) == {"role", "is_staff"}
    assert fields["is_staff"] == UNKNOWN_FIELD


def test_an_upload_names_a_bad_task_and_an_unknown_field(member_client, media_root):
    response = post_file(
        member_client, "a.png", sample("png"), task="abc", fields={"title": "holiday"}
    )

    fields = fields_of(response)
    assert set(fields) == {"task", "title"}
    assert fields["title"] == UNKNOWN_FIELD


def test_an_upload_names_a_repeated_field_with_the_others(member_client, media_root):
    response = member_client.post(
        "/api/v1/files/", {"file": [], "task": ["1", "2"], "title": "x"}, format="multipart"
    )

    fields = fields_of(response)
    assert set(fields) == {"file", "task", "title"}
    assert fields["task"] == ["Send one task, not 2."]


# --- query parameters -----------------------------------------------------------------


def test_the_task_list_names_unknown_parameters_with_invalid_values(member_client):
    response = member_client.get(
        "/api/v1/tasks/",
        {
            "stauts": "done",
            "page": "2",
            "priority": "urgent",
            "due_before": "soon",
            "ordering": "colour",
            "limit": "0",
            "offset": "-1",
        },
    )

    fields = fields_of(response)
    assert set(fields) == {
        "stauts",
        "page",
        "priority",
        "due_before",
        "ordering",
        "limit",
        "offset",
    }
    assert fields["stauts"] == fields["page"] == UNKNOWN_PARAMETER
    assert all(
        messages != UNKNOWN_PARAMETER
        for name, messages in fields.items()
        if name not in {"stauts", "page"}
    )


def test_the_file_list_names_an_unknown_parameter_with_a_bad_task(member_client, media_root):
    response = member_client.get("/api/v1/files/", {"task": "x", "name": "a.png"})

    fields = fields_of(response)
    assert set(fields) == {"task", "name"}
    assert fields["name"] == UNKNOWN_PARAMETER


def test_the_event_feed_names_an_unknown_parameter_with_a_bad_after(member_client):
    response = member_client.get("/api/v1/tasks/events/", {"after": "-1", "before": "9"})

    fields = fields_of(response)
    assert set(fields) == {"after", "before"}
    assert fields["before"] == UNKNOWN_PARAMETER
    assert fields["after"] != UNKNOWN_PARAMETER


@pytest.mark.parametrize("path", ["/api/v1/users/", "/api/v1/auth/sessions/"])
def test_other_lists_name_an_unknown_parameter_with_a_bad_limit(admin_client, path):
    response = admin_client.get(path, {"limit": "many", "sort": "id"})

    fields = fields_of(response)
    assert set(fields) == {"limit", "sort"}
    assert fields["sort"] == UNKNOWN_PARAMETER
