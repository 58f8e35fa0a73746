"""Every error status answers {"error": {"code", "message", "fields"}}, in one JSON
encoding (DRF's renderer: compact, as orjson writes it) whether DRF, Django or the
project's own code answers, with a message written for the person who reads it."""

import logging
import re
import time

import jwt
import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from taskmanager.exceptions import error_json

pytestmark = [pytest.mark.urls("tests.taskmanager.urls")]

NOT_FOUND = "Not found: nothing exists at this address, or you may not see it."
NOT_AUTHENTICATED = (
    "Authentication is required: send an access token from /api/v1/auth/login/"
    ' as "Authorization: Bearer <token>".'
)
INVALID_ACCESS = "The access token is not valid: log in again (/api/v1/auth/login/) for a new one."
EXPIRED_ACCESS = (
    "The access token has expired: get a new one from /api/v1/auth/refresh/ with the"
    " refresh token, or log in again."
)
SESSION_ENDED = (
    "The session has ended (a logout, a password change or a deactivation): log in again."
)
SERVER_ERROR = "An unexpected error occurred; try again later."


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    # One encoding for every error: the bytes DRF's renderer writes for this body.
    assert response.content == error_json(**body["error"]), response.content
    return body["error"]


@pytest.fixture
def tokens(db) -> dict:
    user = User.objects.create_user("ann", "ann@example.com", "x")
    issued = services.session_start(user=user, ip="127.0.0.1", user_agent="tests")
    return {"access": issued.access, "refresh": issued.refresh, "user": user}


def bearer(access: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def expired(access: str, settings) -> str:
    payload = jwt.decode(access, options={"verify_signature": False})
    payload["exp"] = int(time.time()) - 30
    return jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")


# --- every kind of error: its status, code and exact message -------------------------


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code", "message"),
    [
        pytest.param(
            {"path": "/t/echo/", "data": b'{"title": ', "content_type": "application/json"},
            400,
            "parse_error",
            "The request body is not valid JSON: expecting value at line 1, column 11.",
            id="400-json",
        ),
        pytest.param(
            {"path": "/t/echo/", "data": b"\xff\xfe", "content_type": "application/json"},
            400,
            "parse_error",
            "The request body is not valid JSON: it is not UTF-8 text.",
            id="400-not-utf8",
        ),
        pytest.param(
            {"path": "/t/echo/", "data": b"[" * 100_000, "content_type": "application/json"},
            400,
            "parse_error",
            "The request body is not valid JSON: nested too deeply.",
            id="400-too-deep",
        ),
        pytest.param(
            {
                "path": "/t/multipart/",
                "data": b"--x\r\nbroken",
                "content_type": "multipart/form-data",
            },
            400,
            "parse_error",
            "The multipart body could not be read: invalid boundary in multipart: None.",
            id="400-multipart",
        ),
        pytest.param(
            {"path": "/t/json-only/", "data": b"<title/>", "content_type": "application/xml"},
            415,
            "unsupported_media_type",
            'The Content-Type "application/xml" is not accepted here;'
            " send one of: application/json.",
            id="415",
        ),
    ],
)
def test_a_body_the_server_cannot_read_says_what_to_send(
    request_kwargs, status, code, message, api_client
):
    response = api_client.post(**request_kwargs)

    error = assert_error(response, status, code)
    assert error["message"] == message
    assert error["fields"] == {}


def test_an_invalid_body_points_at_the_fields(api_client):
    response = api_client.post("/t/echo/", {"title": "too long"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["message"] == "The request is not valid: see fields for what to correct."
    assert set(error["fields"]) == {"title", "count"}


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        pytest.param(None, NOT_AUTHENTICATED, id="none"),
        pytest.param("Bearer not-a-token", INVALID_ACCESS, id="garbage"),
        pytest.param("Bearer a.b.c", INVALID_ACCESS, id="three-parts"),
        pytest.param(
            "Bearer", 'The Authorization header must be "Bearer <access token>".', id="no-token"
        ),
        pytest.param(
            "Bearer one two",
            'The Authorization header must be "Bearer <access token>".',
            id="two-tokens",
        ),
    ],
)
def test_missing_or_unusable_credentials_are_401_saying_what_to_do(
    authorization, message, api_client
):
    if authorization is not None:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)

    response = api_client.get("/t/private/")

    code = "not_authenticated" if authorization is None else "authentication_failed"
    error = assert_error(response, 401, code)
    assert error["message"] == message
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_expired_access_token_says_to_refresh(tokens, settings):
    response = bearer(expired(tokens["access"], settings)).get("/api/v1/users/me/")

    assert assert_error(response, 401, "authentication_failed")["message"] == EXPIRED_ACCESS


def test_a_refresh_token_sent_as_access_says_where_it_goes(tokens):
    response = bearer(tokens["refresh"]).get("/api/v1/users/me/")

    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == (
        "This is a refresh token, not an access token: send it to /api/v1/auth/refresh/"
        " and use the access token it returns."
    )


def test_a_token_signed_with_another_key_is_not_valid(tokens):
    payload = jwt.decode(tokens["access"], options={"verify_signature": False})
    forged = jwt.encode(payload, "another-key-" * 4, algorithm="HS256")

    response = bearer(forged).get("/api/v1/users/me/")

    assert assert_error(response, 401, "authentication_failed")["message"] == INVALID_ACCESS


def test_a_token_of_an_ended_session_says_to_log_in_again(tokens):
    client = bearer(tokens["access"])
    assert client.post("/api/v1/auth/logout/").status_code == 204

    response = client.get("/api/v1/users/me/")

    assert assert_error(response, 401, "authentication_failed")["message"] == SESSION_ENDED


@pytest.mark.parametrize(
    ("refresh", "message"),
    [
        pytest.param(
            "not-a-token",
            "The refresh token is not valid: log in again (/api/v1/auth/login/).",
            id="garbage",
        ),
        pytest.param(
            "access",
            "This is an access token, not a refresh token: send the refresh token that"
            " came with it.",
            id="access",
        ),
        pytest.param(
            "expired",
            "The refresh token has expired: log in again (/api/v1/auth/login/).",
            id="expired",
        ),
    ],
)
def test_a_refused_refresh_token_says_why(refresh, message, tokens, settings, api_client):
    raw = {"access": tokens["access"], "expired": expired(tokens["refresh"], settings)}
    body = {"refresh": raw.get(refresh, refresh)}

    response = api_client.post("/api/v1/auth/refresh/", body, format="json")

    assert assert_error(response, 401, "authentication_failed")["message"] == message


def test_a_replayed_refresh_token_says_the_session_was_ended(tokens, api_client):
    url, body = "/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}
    assert api_client.post(url, body, format="json").status_code == 200

    response = api_client.post(url, body, format="json")

    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == (
        "This refresh token was already used, so its session has been ended to protect"
        " the account: log in again."
    )


def test_wrong_login_credentials_say_so(tokens, api_client):
    body = {"username": "ann", "password": "not-it"}

    response = api_client.post("/api/v1/auth/login/", body, format="json")

    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == (
        "The username or email and password do not match an account: check them."
    )


def test_a_session_write_without_the_csrf_token_says_how_to_send_it(db):
    client = APIClient(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(User.objects.create_user("bo", "bo@example.com", "x"))

    response = client.post("/t/echo/", {"title": "x", "count": 1}, format="json")

    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == (
        "The CSRF check failed (CSRF cookie not set): with the session cookie, send the"
        " csrftoken cookie's value in an X-CSRFToken header, or use a Bearer token instead."
    )


def test_djangos_own_csrf_failure_is_in_the_error_shape_on_api_paths(db):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/api/t/plain-write/")

    error = assert_error(response, 403, "permission_denied")
    assert error["message"].startswith("The CSRF check failed (CSRF cookie not set): ")


def test_djangos_own_csrf_failure_stays_a_page_for_the_forms(db):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/t/plain-write/")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        (
            "delete",
            "/t/echo/",
            "The method DELETE is not allowed here; the Allow header lists the methods that are.",
        ),
        (
            "post",
            "/monitoring/health/",
            "The method POST is not allowed here; the Allow header lists the methods that are.",
        ),
    ],
)
def test_a_method_not_allowed_is_405_naming_it(method, path, message, db):
    # With CSRF checked: a write to a read-only page is a 405, not a CSRF failure.
    client = APIClient(enforce_csrf_checks=True)

    response = getattr(client, method)(path)

    assert assert_error(response, 405, "method_not_allowed")["message"] == message
    assert method.upper() not in response["Allow"]


def test_a_404_is_the_same_bytes_from_drf_and_from_django(tokens):
    client = bearer(tokens["access"])

    from_drf = client.get("/api/v1/tasks/999999/")
    from_django = client.get("/api/v1/no-such/")

    assert assert_error(from_drf, 404, "not_found")["message"] == NOT_FOUND
    assert assert_error(from_django, 404, "not_found")["message"] == NOT_FOUND
    assert from_drf.content == from_django.content
    assert from_drf["Content-Type"] == from_django["Content-Type"] == "application/json"


def test_a_metrics_request_without_its_token_says_how_to_send_it(api_client, settings):
    settings.METRICS_TOKEN = "m" * 40

    response = api_client.get("/monitoring/metrics/")

    error = assert_error(response, 401, "not_authenticated")
    assert error["message"] == (
        'Metrics need the metrics token: send "Authorization: Bearer <METRICS_TOKEN>".'
    )
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_a_request_django_finds_suspicious_is_400_without_details():
    response = Client(raise_request_exception=False).get("/t/plain-suspicious/")

    error = assert_error(response, 400, "bad_request")
    assert error["message"] == "The request is malformed and could not be read."
    assert "secret" not in response.content.decode()


def test_a_body_over_djangos_limit_outside_drf_is_413_not_400(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    client = Client(raise_request_exception=False)

    response = client.post("/t/plain-write/", b"x" * 500, content_type="text/plain")

    error = assert_error(response, 413, "payload_too_large")
    assert error["message"] == "The request body is too large."


# --- each kind on its own ------------------------------------------------------------


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

    error = assert_error(response, 400, "bad_request")
    assert error["message"] == "The Host header names a host this server does not serve."
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

    error = assert_error(api_client.get("/t/forbidden/"), 403, "permission_denied")
    assert error["message"] == "You do not have permission to perform this action."


def test_unknown_url_is_404(api_client):
    error = assert_error(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert error["message"] == NOT_FOUND


def test_not_found_raised_in_a_view_is_404_without_model_names(api_client):
    error = assert_error(api_client.get("/t/domain/missing/"), 404, "not_found")
    assert error["message"] == NOT_FOUND


def test_wrong_method_is_405(api_client):
    assert_error(api_client.delete("/t/echo/"), 405, "method_not_allowed")


@pytest.mark.parametrize("url", ["/api/schema/", "/api/asyncapi/"])
def test_documents_served_as_yaml_answer_errors_in_json(api_client, url):
    assert_error(api_client.post(url), 405, "method_not_allowed")
    assert_error(api_client.get(url, {"format": "xml"}), 404, "not_found")


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_html_documentation_pages_answer_errors_in_json(api_client, url):
    error = assert_error(api_client.post(url), 405, "method_not_allowed")
    assert error["message"].startswith("The method POST is not allowed here")

    response = api_client.get(url, HTTP_ACCEPT="application/xml")

    error = assert_error(response, 406, "not_acceptable")
    assert error["message"] == (
        "The Accept header allows none of the types this address answers with: text/html."
    )


def test_unacceptable_accept_header_is_406(api_client):
    response = api_client.get("/t/echo/", HTTP_ACCEPT="application/xml")

    error = assert_error(response, 406, "not_acceptable")
    assert error["message"] == (
        "The Accept header allows none of the types this address answers with:"
        " application/json, text/html."
    )


def test_unsupported_content_type_is_415(api_client):
    response = api_client.post("/t/echo/", b"<title/>", content_type="application/xml")

    assert_error(response, 415, "unsupported_media_type")


def test_throttled_request_is_429_with_retry_after(api_client):
    assert api_client.get("/t/throttled/").status_code == 200

    response = api_client.get("/t/throttled/")

    error = assert_error(response, 429, "throttled")
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    unit = "second" if wait == 1 else "seconds"
    assert error["message"] == f"Too many requests: try again in {wait} {unit}."
    assert re.fullmatch(r"Too many requests: try again in \d+ seconds?\.", error["message"])


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
    assert error["message"] == SERVER_ERROR
    assert "RuntimeError" in caplog.text  # the operator still gets the trace in the log


def test_unexpected_exception_outside_drf_is_500_in_the_same_shape():
    client = Client(raise_request_exception=False)

    response = client.get("/t/plain-crash/")

    assert assert_error(response, 500, "server_error")["message"] == SERVER_ERROR
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

    error = assert_error(response, 413, "payload_too_large")
    assert error["message"] == "The request body is too large."
