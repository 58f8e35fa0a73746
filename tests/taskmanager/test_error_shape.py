"""Every error status answers {"error": {"code", "message", "fields"}}."""

import logging

import pytest
from django.test import Client

from accounts.models import User

pytestmark = [pytest.mark.urls("tests.taskmanager.urls")]


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_validation_error_is_400_naming_each_field(api_client):
    response = api_client.post("/t/echo/", {"title": "too long", "count": "x"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"title", "count"}


def test_malformed_json_is_400(api_client):
    response = api_client.post("/t/echo/", b'{"title": ', content_type="application/json")

    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize(
    "body",
    [
        rb'{"title": "\ud800"}',  # half of a surrogate pair: not text
        rb'{"title": "ok", "\udfff": 1}',  # in a key, which errors repeat back
        rb'{"title": "ok", "tags": [{"name": "\ud83d"}]}',  # however deep
        b"[" * 100_000,  # deeper than Python's stack
    ],
)
def test_json_that_is_not_text_or_too_deep_is_400_not_500(api_client, body):
    response = api_client.post("/t/echo/", body, content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_an_escaped_surrogate_pair_is_text(api_client):
    body = rb'{"title": "\ud83d\ude00", "count": 1}'

    response = api_client.post("/t/echo/", body, content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "\N{GRINNING FACE}"


def test_a_get_whose_if_match_fails_is_412_in_the_error_shape(api_client):
    response = api_client.get("/t/echo/", HTTP_IF_MATCH='"not-this-one"')

    assert_error(response, 412, "precondition_failed")


def test_a_get_answers_its_own_etag_with_304_and_an_error_has_no_etag(api_client):
    etag = api_client.get("/t/echo/")["ETag"]

    assert api_client.get("/t/echo/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert api_client.get("/t/echo/", HTTP_IF_MATCH=etag).status_code == 200
    assert "ETag" not in api_client.get("/api/v1/no-such-thing/")


def test_a_host_not_allowed_is_400_and_logs_no_error(api_client, caplog):
    response = api_client.get("/t/echo/", HTTP_HOST="scanner.example")

    assert_error(response, 400, "bad_request")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_missing_credentials_are_401_with_a_bearer_challenge(api_client):
    response = api_client.get("/t/private/")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_garbage_bearer_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert_error(api_client.get("/t/private/"), 401, "authentication_failed")


@pytest.mark.django_db
def test_authenticated_but_not_allowed_is_403(api_client):
    api_client.force_authenticate(User.objects.create_user("ann", "ann@example.com", "x"))

    assert_error(api_client.get("/t/forbidden/"), 403, "permission_denied")


def test_unknown_url_is_404(api_client):
    assert_error(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_not_found_raised_in_a_view_is_404_without_model_names(api_client):
    error = assert_error(api_client.get("/t/domain/missing/"), 404, "not_found")
    assert error["message"] == "Not found."


def test_wrong_method_is_405(api_client):
    assert_error(api_client.delete("/t/echo/"), 405, "method_not_allowed")


@pytest.mark.parametrize("url", ["/api/schema/", "/api/asyncapi/"])
def test_documents_served_as_yaml_answer_errors_in_json(api_client, url):
    assert_error(api_client.post(url), 405, "method_not_allowed")
    assert_error(api_client.get(url, {"format": "xml"}), 404, "not_found")


def test_unacceptable_accept_header_is_406(api_client):
    response = api_client.get("/t/echo/", HTTP_ACCEPT="application/xml")

    assert_error(response, 406, "not_acceptable")


def test_unsupported_content_type_is_415(api_client):
    response = api_client.post("/t/echo/", b"<title/>", content_type="application/xml")

    assert_error(response, 415, "unsupported_media_type")


def test_throttled_request_is_429_with_retry_after(api_client):
    assert api_client.get("/t/throttled/").status_code == 200

    response = api_client.get("/t/throttled/")

    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("conflict", 409, "conflict"),
        ("precondition", 412, "precondition_failed"),
        ("too-large", 413, "payload_too_large"),
        ("media", 415, "unsupported_media_type"),
    ],
)
def test_domain_errors_map_to_their_status(api_client, kind, status, code):
    response = api_client.get(f"/t/domain/{kind}/")

    assert_error(response, status, code)
    assert "Retry-After" not in response


def test_a_service_unavailable_says_when_to_retry(api_client):
    response = api_client.get("/t/domain/unavailable/")

    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


def test_unexpected_exception_is_500_without_details(api_client, caplog):
    response = api_client.get("/t/crash/")

    error = assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["message"] == "An unexpected error occurred."
    assert "RuntimeError" in caplog.text  # the operator still gets the trace in the log


def test_unexpected_exception_outside_drf_is_500_in_the_same_shape():
    client = Client(raise_request_exception=False)

    response = client.get("/t/plain-crash/")

    assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()


@pytest.mark.parametrize("kind", ["refused", "lost"])
@pytest.mark.parametrize("prefix", ["database-down", "plain-database-down"])
def test_the_database_down_is_503_with_retry_after_and_no_details(prefix, kind, caplog):
    client = Client(raise_request_exception=False)

    response = client.get(f"/t/{prefix}/{kind}/")

    error = assert_error(response, 503, "service_unavailable")
    assert error["message"] == "The database is unavailable; try again later."
    assert response["Retry-After"] == "5"
    assert "10.0.0.5" not in response.content.decode()
    assert "closed" not in response.content.decode()


def test_body_over_the_memory_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = api_client.post(
        "/t/echo/", b'{"title": "' + b"x" * 500 + b'"}', content_type="application/json"
    )

    assert_error(response, 413, "payload_too_large")
