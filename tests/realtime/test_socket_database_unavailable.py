"""A socket handshake while the database cannot be reached (PostgreSQL restarting):
the credentials cannot be checked, so the socket is accepted and closed with 4503
after a `service_unavailable` error, for the client to reconnect later; daphne would
otherwise answer the handshake with an HTTP 500. tests/e2e/test_postgres_restart.py
does the same against a real PostgreSQL."""

import logging
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError

import realtime.authentication
from tests.realtime.sockets import TIMEOUT, receive, socket

TRY_AGAIN = 4503


def unreachable(*args: Any) -> Any:
    raise OperationalError("connection failed: server closed the connection unexpectedly")


async def assert_closed_to_try_again(communicator: Any) -> None:
    accepted, _ = await communicator.connect(TIMEOUT)
    assert accepted
    error = await receive(communicator)
    assert error["type"] == "error", error
    assert error["error"]["code"] == "service_unavailable", error
    closing = await communicator.receive_output(TIMEOUT)
    assert closing == {"type": "websocket.close", "code": TRY_AGAIN}, closing


async def test_a_token_that_cannot_be_checked_closes_the_socket_with_4503(monkeypatch, caplog):
    monkeypatch.setattr(realtime.authentication, "identify_token", unreachable)
    with caplog.at_level(logging.WARNING, logger="realtime.authentication"):
        await assert_closed_to_try_again(socket(token="any.access.token"))
    (record,) = [r for r in caplog.records if r.name == "realtime.authentication"]
    # A line, not a traceback for every socket of an outage.
    assert "database unavailable" in record.getMessage()
    assert record.exc_info is None


async def test_a_session_cookie_that_cannot_be_checked_closes_the_socket_with_4503(monkeypatch):
    def interface_gone(*args: Any) -> Any:
        raise InterfaceError("connection already closed")

    monkeypatch.setattr(realtime.authentication, "identify_session", interface_gone)
    await assert_closed_to_try_again(socket(cookie="a-session-key"))


# database_sync_to_async closes old connections around the call: database access on.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_the_identity_watch_logs_an_outage_as_a_warning_and_goes_on(monkeypatch, caplog):
    monkeypatch.setattr(realtime.authentication, "recheck_many", unreachable)
    watch = realtime.authentication.IdentityWatch()
    with caplog.at_level(logging.WARNING, logger="realtime.authentication"):
        await watch.check_all()
    (record,) = [r for r in caplog.records if r.name == "realtime.authentication"]
    assert "database unavailable" in record.getMessage()
    assert record.exc_info is None
