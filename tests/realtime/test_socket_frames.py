"""/ws/tasks/ frames that once ended the socket with 1011 and a traceback: too large
before authentication, anything but `auth` first, and failures while a message is
handled. Each gets an error in the API's shape and a documented close code."""

import json
import logging

import pytest
from django.db import OperationalError

from realtime import consumers
from tests.realtime.sockets import (
    TIMEOUT,
    assert_closed_unauthorized,
    error_code,
    next_of_type,
    open_sockets,
    receive,
    send,
    socket,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MAX_CHARS = 4096


@pytest.fixture(autouse=True)
def _slow_auth_timeout(settings):
    # Only the frames below may close a socket.
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 30


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.exc_info]


@pytest.mark.parametrize(
    "frame",
    [{"text_data": "x" * (MAX_CHARS + 1)}, {"bytes_data": b"x" * (MAX_CHARS + 1)}],
    ids=["text", "binary"],
)
async def test_a_frame_over_4096_characters_before_authentication_closes_4413(frame, caplog):
    communicator = socket()
    try:
        assert (await communicator.connect(TIMEOUT))[0]
        await communicator.send_to(**frame)

        assert error_code(await receive(communicator)) == "payload_too_large"
        closing = await communicator.receive_output(TIMEOUT)
        assert closing == {"type": "websocket.close", "code": 4413}
    finally:
        await communicator.disconnect()
    assert not no_tracebacks(caplog)


async def test_an_auth_message_of_4096_characters_is_read(member_client):
    token = member_client.tokens["access"]
    frame = json.dumps({"type": "auth", "token": token})
    frame = frame[:-1] + " " * (MAX_CHARS - len(frame)) + "}"
    assert len(frame) == MAX_CHARS
    communicator = socket()
    try:
        assert (await communicator.connect(TIMEOUT))[0]
        await communicator.send_to(text_data=frame)

        assert (await receive(communicator))["type"] == "ready"
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"text_data": "[" * 2000 + "]" * 2000},
        {"text_data": "{not json"},
        {"text_data": '["auth"]'},
        {"text_data": '{"type": "auth", "token": "\\ud800"}'},
        {"text_data": '{"type": "auth", "token": "x", "n": 1e999}'},
        {"bytes_data": b'{"type": "auth", "token": "x"}'},
    ],
    ids=["nested-past-the-stack", "not-json", "not-an-object", "surrogate", "huge", "binary"],
)
async def test_a_first_frame_that_is_not_an_auth_message_closes_4401(frame, caplog):
    communicator = socket()
    try:
        assert (await communicator.connect(TIMEOUT))[0]
        await communicator.send_to(**frame)

        await assert_closed_unauthorized(communicator, code="not_authenticated")
    finally:
        await communicator.disconnect()
    assert not no_tracebacks(caplog)


async def test_a_database_outage_during_a_resume_is_an_error_and_close_4503(
    member_client, monkeypatch, caplog
):
    def fail(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(consumers, "missed_events", fail)
    async with open_sockets(member_client.tokens) as (ws,):
        await send(ws, {"type": "resume", "after": 0})

        assert error_code(await next_of_type(ws, "error")) == "service_unavailable"
        assert await ws.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4503}
    # One line for an outage, as for HTTP: no traceback per socket.
    assert not no_tracebacks(caplog)
    assert any("database unavailable" in record.getMessage() for record in caplog.records)


async def test_a_database_outage_while_an_auth_message_is_checked_closes_4503(
    member_client, monkeypatch, caplog
):
    def fail(raw):
        raise OperationalError("connection refused")

    monkeypatch.setattr(consumers, "identify_token", fail)
    communicator = socket()
    try:
        assert (await communicator.connect(TIMEOUT))[0]
        await send(communicator, {"type": "auth", "token": member_client.tokens["access"]})

        assert error_code(await receive(communicator)) == "service_unavailable"
        closing = await communicator.receive_output(TIMEOUT)
        assert closing == {"type": "websocket.close", "code": 4503}
    finally:
        await communicator.disconnect()
    assert not no_tracebacks(caplog)


async def test_an_unexpected_failure_is_a_server_error_and_close_4503(
    member_client, monkeypatch, caplog
):
    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(consumers, "missed_events", fail)
    async with open_sockets(member_client.tokens) as (ws,):
        with caplog.at_level(logging.ERROR, logger="realtime.consumers"):
            await send(ws, {"type": "resume", "after": 0})

            assert error_code(await next_of_type(ws, "error")) == "server_error"
            assert await ws.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4503}
    # A bug is logged with its traceback, once, by the consumer (not daphne's 1011).
    assert no_tracebacks(caplog) == ["a socket message failed"]
