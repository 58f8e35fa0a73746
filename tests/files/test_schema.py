"""The OpenAPI schema of the files endpoints says what they answer: the upload form,
and the conditional GETs ConditionalGetMiddleware answers on metadata and lists."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.helpers import FILES_URL, file_url, upload

FILES = "/api/v1/files/"
FILE = "/api/v1/files/{id}/"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_upload_form_is_described_by_its_own_words(schema):
    # Without a docstring of its own the form took StrictFieldsMixin's, which speaks
    # of a PUT echoing a GET, in Swagger UI and ReDoc.
    operation = schema["paths"][FILES]["post"]
    reference = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    form = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]

    assert set(form["properties"]) == {"file", "task"}
    assert form["required"] == ["file"]
    assert "PUT" not in form.get("description", "")
    assert "file" in form["description"]


@pytest.mark.parametrize("path", [FILES, FILE])
def test_metadata_and_list_gets_declare_if_none_match_their_304_and_etag(schema, path):
    operation = schema["paths"][path]["get"]

    headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
    assert "If-None-Match" in headers
    assert "304" in operation["responses"]
    assert "content" not in operation["responses"]["304"]
    assert "ETag" in operation["responses"]["200"].get("headers", {})


@pytest.mark.django_db
@pytest.mark.parametrize("url", [lambda body: FILES_URL, file_url])
def test_metadata_and_list_answer_a_current_if_none_match_with_304(member_client, media_root, url):
    body = upload(member_client, "png")
    first = member_client.get(url(body))
    assert first.status_code == 200
    assert first["ETag"]

    again = member_client.get(url(body), HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again.content == b""
