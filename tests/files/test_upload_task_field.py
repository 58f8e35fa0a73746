"""The upload form as its schema says: the file's sizes; the optional `task`, which
is never null (a form has no null), absent when empty, a 400 past what the database
holds."""

import pytest
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator

from files.models import File
from taskmanager.filters import MAX_ID
from tests.files.samples import png_bytes
from tests.helpers import assert_field_error, post_file


def upload_form() -> dict:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    content = schema["paths"]["/api/v1/files/"]["post"]["requestBody"]["content"]
    reference = content["multipart/form-data"]["schema"]["$ref"]
    return schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]


@pytest.fixture(scope="module")
def form() -> dict:
    return upload_form()


@override_settings(UPLOAD_MAX_BYTES=1234)
def test_the_upload_form_declares_the_file_sizes_refused():
    # An empty file is a 400, one past UPLOAD_MAX_BYTES a 413: the schema said any.
    file = upload_form()["properties"]["file"]

    assert file["type"] == "string"
    assert file["format"] == "binary"
    assert file["minLength"] == 1
    assert "1234 bytes" in file["description"]


def test_the_upload_form_declares_task_an_id_that_is_never_null(form):
    # A generated client sent "null" for a nullable task, which the form refused.
    task = form["properties"]["task"]

    assert task["type"] == "integer"
    assert not task.get("nullable", False)
    assert task["minimum"] == 1
    assert task["maximum"] == MAX_ID


@pytest.mark.django_db
def test_an_upload_with_an_empty_task_has_no_task(member_client, media_root):
    response = post_file(member_client, "red.png", png_bytes(), task="")

    assert response.status_code == 201, response.content
    assert response.json()["task"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("task", ["null", "1.5", str(MAX_ID + 1), "99999999999999999999"])
def test_an_upload_with_a_task_that_is_no_id_is_a_validation_error_on_task(
    member_client, media_root, task
):
    response = post_file(member_client, "red.png", png_bytes(), task=task)

    error = assert_field_error(response, "task")
    assert set(error["fields"]) == {"task"}, error
    assert not File.objects.exists()
