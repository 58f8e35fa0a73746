"""taskmanager.postgresql: a pooled connection given back a moment ago leaves the
pool without a query; one whose server ended it is replaced, whether the poll of its
socket or the query after a quiet spell finds it. On a pool of one connection of its
own, so which connection is drawn is known. PostgreSQL only."""

import os
import resource
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from psycopg_pool import ConnectionPool

from taskmanager.postgresql import base

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's pool"),
    pytest.mark.django_db,
]


@pytest.fixture
def database() -> Iterator[base.DatabaseWrapper]:
    """A wrapper of the test database with a pool of one connection, its own."""
    settings = {**connection.settings_dict}
    settings["OPTIONS"] = {
        **settings["OPTIONS"],
        "pool": {"min_size": 1, "max_size": 1, "timeout": 5},
    }
    wrapper = base.DatabaseWrapper(settings, alias="pool_check_test")
    yield wrapper
    wrapper.close()
    wrapper.close_pool()


@pytest.fixture
def queried(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The connections asked with psycopg_pool's empty query, in order."""
    asked: list[Any] = []
    check = ConnectionPool.check_connection

    def recording(conn: Any) -> None:
        asked.append(conn)
        check(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(recording))
    return asked


def drawn(database: base.DatabaseWrapper) -> tuple[Any, int]:
    """The connection a request would get, and its server process; then given back."""
    database.ensure_connection()
    raw = database.connection
    with database.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    database.close()
    return raw, pid


def end(database: base.DatabaseWrapper, pid: int) -> None:
    """pg_terminate_backend(pid), from a connection of no pool, waiting until the
    server process has gone (its socket closed)."""
    params = database.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        (ended,) = other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()
    assert ended


def test_a_connection_given_back_a_moment_ago_leaves_without_a_query(database, queried):
    first, pid = drawn(database)
    assert queried == [first]  # new to this process: asked

    again, same_pid = drawn(database)

    assert again is first and same_pid == pid
    assert queried == [first]


@pytest.fixture
def low_descriptors_taken() -> Iterator[None]:
    """Every descriptor below 1,100 in use, so a socket opened now is numbered past
    select()'s limit (1,024), as in a socket process holding thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        if hard != resource.RLIM_INFINITY and hard < 2048:
            pytest.skip(f"this process may open {hard} files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    taken = []
    try:
        while not taken or taken[-1] < 1100:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_numbered_past_selects_limit_is_polled_too(
    low_descriptors_taken, database, queried
):
    first, pid = drawn(database)
    assert first.fileno() >= 1024

    again, same_pid = drawn(database)

    assert again is first and same_pid == pid
    assert queried == [first]


def test_one_ended_a_moment_ago_is_seen_by_its_socket_and_replaced(database, queried):
    first, pid = drawn(database)
    end(database, pid)

    replacement, new_pid = drawn(database)

    assert replacement is not first and new_pid != pid
    assert first.closed
    # The poll found the server's goodbye; the query confirmed it; then the new one.
    assert queried == [first, first, replacement]


def test_one_quiet_for_a_while_is_asked_with_a_query(database, queried, monkeypatch):
    first, pid = drawn(database)
    monkeypatch.setattr(base, "QUIET_SECONDS", 0.0)

    again, same_pid = drawn(database)

    assert again is first and same_pid == pid
    assert queried == [first, first]


def test_one_ended_while_quiet_is_replaced(database, queried, monkeypatch):
    first, pid = drawn(database)
    end(database, pid)
    monkeypatch.setattr(base, "QUIET_SECONDS", 0.0)

    replacement, new_pid = drawn(database)

    assert replacement is not first and new_pid != pid
    assert queried == [first, first, replacement]


def test_no_working_connection_within_the_pools_timeout_is_an_operational_error(
    database, monkeypatch
):
    drawn(database)
    monkeypatch.setattr(base, "_alive", lambda conn: False)
    database.settings_dict["OPTIONS"]["pool"]["timeout"] = 0.2
    database.close_pool()  # made again with the shorter timeout

    with pytest.raises(OperationalError, match="no working connection"):
        database.ensure_connection()
