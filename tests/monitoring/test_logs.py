"""JSON log lines with request ids: accepted or generated, returned, on every record
of the request (HTTP and WebSocket), one access line per request, and no secrets."""

import json
import logging
import re
import sys
import uuid

import pytest
from channels.testing import ApplicationCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from monitoring.log_format import JsonFormatter
from monitoring.logs import RequestIdFilter, current_request_id
from taskmanager.asgi import application
from tests.factories import PASSWORD
from tests.realtime.sockets import TIMEOUT, WS_PATH, connected, socket

GENERATED = re.compile(r"[0-9a-f]{32}")
HEALTH_URL = "/monitoring/health/"
TASKS_URL = "/api/v1/tasks/"


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "taskmanager.access"]


def as_json_lines(records: list[logging.LogRecord]) -> str:
    """The records as the production handler writes them."""
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in records)


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    # caplog's handler sits on the root logger, beside ours: it needs the same filter.
    caplog.handler.addFilter(RequestIdFilter())
    return caplog


# HTTP


@pytest.mark.django_db
def test_a_valid_request_id_is_returned_and_on_the_access_line(client, caplog_info):
    response = client.get(HEALTH_URL, HTTP_X_REQUEST_ID="edge-7f3a.42:b_c")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "edge-7f3a.42:b_c"
    (line,) = access_lines(caplog_info)
    assert line.request_id == "edge-7f3a.42:b_c"


@pytest.mark.parametrize(
    "presented",
    ["", "with space", "line\nbreak", "x" * 129, "-leading-dash", 'quote"d', "ünïcode"],
)
@pytest.mark.django_db
def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(client, caplog_info, presented):
    response = client.get(HEALTH_URL, HTTP_X_REQUEST_ID=presented)

    assert GENERATED.fullmatch(response["X-Request-ID"])
    assert response["X-Request-ID"] != presented
    (line,) = access_lines(caplog_info)
    assert line.request_id == response["X-Request-ID"]
    assert presented not in as_json_lines(caplog_info.records) or not presented


@pytest.mark.django_db
def test_requests_without_an_id_each_get_their_own(client):
    first = client.get(HEALTH_URL)["X-Request-ID"]
    second = client.get(HEALTH_URL)["X-Request-ID"]

    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.django_db
def test_the_access_line_names_method_path_status_duration_and_user(
    member, member_client, caplog_info
):
    response = member_client.get(TASKS_URL, {"search": "private words"}, HTTP_X_REQUEST_ID="r-1")

    assert response.status_code == 200
    (line,) = access_lines(caplog_info)
    assert line.method == "GET"
    assert line.path == TASKS_URL
    assert line.status == 200
    assert isinstance(line.duration_ms, float)
    assert line.duration_ms >= 0
    assert line.user_id == member.pk
    assert line.request_id == "r-1"
    # The query string may carry personal or secret values: it is left out.
    assert "private" not in as_json_lines(caplog_info.records)


@pytest.mark.django_db
def test_an_anonymous_request_is_logged_without_a_user_and_without_a_session_lookup(
    client, caplog_info, django_assert_num_queries
):
    client.cookies["sessionid"] = "not-a-session"
    with django_assert_num_queries(0):
        response = client.get(HEALTH_URL)

    assert response.status_code == 200
    (line,) = access_lines(caplog_info)
    assert line.user_id is None
    assert line.status == 200


@pytest.mark.django_db
def test_refused_requests_get_an_access_line_with_their_status(client, caplog_info):
    response = client.post(TASKS_URL, {}, content_type="application/json")

    assert response.status_code == 401
    (line,) = access_lines(caplog_info)
    assert (line.method, line.status, line.user_id) == ("POST", 401, None)


@pytest.mark.urls("tests.taskmanager.urls")
@pytest.mark.django_db
def test_every_record_of_a_request_carries_its_id(caplog_info):
    client = APIClient(raise_request_exception=False)

    response = client.get("/t/crash/", HTTP_X_REQUEST_ID="crash-1")

    assert response.status_code == 500
    assert response["X-Request-ID"] == "crash-1"
    crash = [record for record in caplog_info.records if record.levelno == logging.ERROR]
    assert crash, "the unhandled exception was not logged"
    assert {record.request_id for record in crash} == {"crash-1"}
    assert access_lines(caplog_info)[0].request_id == "crash-1"


def test_records_outside_a_request_have_no_request_id(caplog_info):
    logging.getLogger("taskmanager.test").info("between requests")

    (record,) = [r for r in caplog_info.records if r.name == "taskmanager.test"]
    assert record.request_id is None
    assert current_request_id.get() is None


# The line format


def test_a_record_is_one_json_line_with_the_fields_a_pipeline_needs():
    record = logging.LogRecord(
        "tasks.services", logging.WARNING, __file__, 1, "Zoë %s", ("ok",), None
    )
    record.request_id = "r-9"
    record.status = 201
    record.request = "<WSGIRequest: GET '/x/?token=secret'>"

    line = JsonFormatter().format(record)

    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "tasks.services"
    assert data["message"] == "Zoë ok"
    assert data["request_id"] == "r-9"
    assert data["status"] == 201
    assert "timestamp" in data
    # Django's request object (its repr has the query string) is never written.
    assert "request" not in data
    assert "secret" not in line


def test_an_exception_is_written_inside_the_json_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    data = json.loads(JsonFormatter().format(record))

    assert "ValueError: boom" in data["exc_info"]


def test_the_project_logging_config_writes_json_with_request_ids():
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler.formatter, JsonFormatter)
    assert any(isinstance(f, RequestIdFilter) for f in handler.filters)


# No secrets


@pytest.mark.django_db
def test_no_password_token_or_file_content_reaches_any_log(member, caplog):
    caplog.set_level(logging.DEBUG)
    client = APIClient()
    login = client.post(
        "/api/v1/auth/login/", {"username": member.username, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200
    tokens = login.json()
    wrong = client.post(
        "/api/v1/auth/login/",
        {"username": member.username, "password": "Wrong-Guess-Entirely-77"},
        format="json",
    )
    assert wrong.status_code == 401
    refreshed = client.post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    new_tokens = refreshed.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new_tokens['access']}")
    content = f"confidential-{uuid.uuid4().hex}".encode()
    upload = client.post(
        "/api/v1/files/", {"file": SimpleUploadedFile("notes.txt", content)}, format="multipart"
    )
    assert upload.status_code == 201, upload.content
    download = client.get(upload.json()["download_url"])
    assert b"".join(download.streaming_content) == content
    replay = client.post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert replay.status_code == 401
    garbage = APIClient()
    garbage.credentials(HTTP_AUTHORIZATION="Bearer not.a-valid.token-secret-xyz")
    assert garbage.get(TASKS_URL).status_code == 401

    written = as_json_lines(caplog.records)

    assert len(access_lines(caplog)) == 7
    for secret in (
        PASSWORD,
        "Wrong-Guess-Entirely-77",
        tokens["access"],
        tokens["refresh"],
        new_tokens["access"],
        new_tokens["refresh"],
        content.decode(),
        "not.a-valid.token-secret-xyz",
    ):
        assert secret not in written


# WebSocket


@pytest.fixture
def member_tokens(member, login):
    return login(member)


async def handshake(headers: list[tuple[bytes, bytes]]) -> tuple[ApplicationCommunicator, dict]:
    """The raw handshake, to read the accept message's headers."""
    communicator = ApplicationCommunicator(
        application,
        {
            "type": "websocket",
            "path": WS_PATH,
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        },
    )
    await communicator.send_input({"type": "websocket.connect"})
    return communicator, await communicator.receive_output(TIMEOUT)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_the_websocket_handshake_returns_the_request_id(caplog_info):
    communicator, accept = await handshake([(b"x-request-id", b"ws-edge-1")])

    assert accept["type"] == "websocket.accept"
    assert (b"X-Request-ID", b"ws-edge-1") in accept["headers"]
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(TIMEOUT)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_an_unsafe_websocket_request_id_is_replaced(caplog_info):
    communicator, accept = await handshake([(b"x-request-id", b"bad id")])

    (returned,) = [value for name, value in accept["headers"] if name == b"X-Request-ID"]
    assert GENERATED.fullmatch(returned.decode())
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(TIMEOUT)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_websocket_connection_logs_carry_the_request_id_and_user(caplog_info, member_tokens):
    communicator = socket(
        query_token=member_tokens["access"], headers=[(b"x-request-id", b"ws-42")]
    )
    ready = await connected(communicator)
    await communicator.disconnect()

    records = [r for r in caplog_info.records if r.name == "realtime.consumers"]
    by_message = {record.getMessage(): record for record in records}
    opened = by_message["websocket authenticated"]
    closed = by_message["websocket closed"]
    assert opened.request_id == closed.request_id == "ws-42"
    assert opened.user_id == closed.user_id == ready["user"]
    assert opened.via == "token"
    assert opened.path == WS_PATH
    assert closed.code == 1000
    # The query-string token never reaches a log record.
    assert member_tokens["access"] not in as_json_lines(caplog_info.records)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_refused_websocket_is_logged_without_the_token(caplog_info):
    communicator = socket(token="forged.token.value", headers=[(b"x-request-id", b"ws-bad")])
    accepted, _ = await communicator.connect(TIMEOUT)
    assert accepted
    await communicator.receive_output(TIMEOUT)  # the error message
    await communicator.receive_output(TIMEOUT)  # the close
    await communicator.wait(TIMEOUT)

    refused = [r for r in caplog_info.records if r.getMessage() == "websocket refused"]
    assert [record.request_id for record in refused] == ["ws-bad"]
    assert "forged.token.value" not in as_json_lines(caplog_info.records)


@pytest.mark.django_db
def test_above_info_there_is_no_access_line_but_still_a_request_id(client, caplog):
    caplog.set_level(logging.WARNING)

    response = client.get(HEALTH_URL, HTTP_X_REQUEST_ID="quiet-1")

    assert response["X-Request-ID"] == "quiet-1"
    assert access_lines(caplog) == []
