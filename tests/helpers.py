"""Helpers for the API that tests in several folders use: the error shape, tokens,
pages, and the task and file URLs and shapes.

Fixtures live in tests/conftest.py; helpers used by one folder only live in that
folder's `helpers.py`.
"""

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import jwt
import psycopg
from django.db import connection, connections
from psycopg import pq
from rest_framework.test import APIClient

from tests.files.samples import multipart, sample

LOGIN_URL = "/api/v1/auth/login/"
ME_URL = "/api/v1/users/me/"
REFRESH_URL = "/api/v1/auth/refresh/"
TASKS_URL = "/api/v1/tasks/"
FEED_URL = "/api/v1/tasks/events/"
FILES_URL = "/api/v1/files/"

PAGE_SHAPE = {"count", "next", "previous", "results"}
TASK_SHAPE = {
    "id",
    "title",
    "description",
    "priority",
    "status",
    "due_date",
    "owner",
    "assignee",
    "created_at",
    "updated_at",
    "completed_at",
    "version",
}
EVENT_SHAPE = {"id", "task", "kind", "actor", "changes", "at"}
FILE_SHAPE = {"id", "name", "size", "content_type", "sha256", "task", "created_at", "download_url"}

Tokens = dict[str, Any]
Login = Callable[..., Tokens]


# --- concurrency (PostgreSQL) ----------------------------------------------------------


def waits_for_advisory_lock(thread: threading.Thread, timeout: float = 30) -> bool:
    """Whether a session comes to wait for an advisory lock while `thread` runs (False
    once it ends without having waited, or after `timeout`)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if cursor.fetchone()[0]:
                return True
            if not thread.is_alive():
                return False
            time.sleep(0.05)
    return False


def own_connection() -> psycopg.Connection[Any]:
    """A connection of the test's PostgreSQL database outside Django's, with its own
    transaction."""
    settings = connection.settings_dict
    given = {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
        "host": settings["HOST"],
        "port": settings["PORT"],
    }
    # An empty setting is libpq's default, as Django leaves it out.
    return psycopg.connect(**{name: value for name, value in given.items() if value})


def started_on_its_connection(work: Callable[[], None]) -> tuple[int, threading.Thread]:
    """`work` started in a thread that opens its own database connection first (and
    closes it at the end): that connection's PostgreSQL backend pid, and the thread."""
    ready = threading.Event()
    found: list[int] = []

    def run() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                found.append(cursor.fetchone()[0])
            ready.set()
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert ready.wait(30), "the thread did not connect"
    return found[0], thread


TRANSACTION_COMMANDS = frozenset({'Query "BEGIN"', 'Query "COMMIT"', 'Query "ROLLBACK"'})


@contextmanager
def sent_to_postgresql() -> Iterator[list[str]]:
    """The messages Django's connection sends PostgreSQL inside the block (libpq's
    trace: `Query "BEGIN"`, `Parse ...`, `Bind ...`, `Sync`...), filled in at its end.
    `TRANSACTION_COMMANDS` picks out the transaction's own."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    sent: list[str] = []
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield sent
        finally:
            pgconn.untrace()
            trace.seek(0)
            lines = trace.read().decode().splitlines()
            # "F\t<length>\t<message>...": from the frontend, without the length.
            sent.extend(
                " ".join(part.strip() for part in line.split("\t")[2:])
                for line in lines
                if line[:2] == "F\t"
            )


def waits_for_a_lock(pid: int) -> bool:
    """Whether the PostgreSQL backend `pid` waits for a lock now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
            [pid],
        )
        return bool(cursor.fetchone()[0])


# --- errors ---------------------------------------------------------------------------


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is `status` in the error shape with `code`; returns the inner error."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, body
    assert error["code"] == code, body
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fields"], dict)
    return error


def assert_field_error(response: Any, field: str) -> dict[str, Any]:
    """400 validation_error naming `field` with at least one message."""
    error = assert_error(response, 400, "validation_error")
    assert field in error["fields"], error
    assert error["fields"][field], error
    return error


# --- tokens ---------------------------------------------------------------------------


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def bearer_client(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


class TokenClient(APIClient):
    """An APIClient sending a Bearer access token, with the tokens it logged in with."""

    def __init__(self, tokens: Tokens, **defaults: Any) -> None:
        super().__init__(**defaults)
        self.tokens = tokens
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")


# --- pages ----------------------------------------------------------------------------


def page(response: Any) -> dict[str, Any]:
    """The body of a 200 paginated response."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == PAGE_SHAPE, body
    return body


def result_ids(response: Any) -> list[int]:
    """The ids of a 200 paginated response's results, in order."""
    return [item["id"] for item in page(response)["results"]]


# --- tasks ----------------------------------------------------------------------------


def task_url(task_or_id: Any) -> str:
    pk = getattr(task_or_id, "pk", task_or_id)
    return f"{TASKS_URL}{pk}/"


def parse_dt(value: str | None) -> datetime | None:
    """An ISO string from the API (with "Z" or an offset) as an aware datetime."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"naive datetime in the API: {value!r}"
    return parsed


# --- files ----------------------------------------------------------------------------


def file_url(file_or_id: Any) -> str:
    pk = file_or_id["id"] if isinstance(file_or_id, dict) else getattr(file_or_id, "pk", file_or_id)
    return f"{FILES_URL}{pk}/"


def download_url(file_or_id: Any) -> str:
    return f"{file_url(file_or_id)}download/"


def post_file(
    client: Any,
    name: str,
    content: bytes,
    content_type: str = "application/octet-stream",
    *,
    task: Any = None,
    fields: dict[str, str] | None = None,
    field: str = "file",
    **extra: Any,
) -> Any:
    """POST files/ with a hand-built multipart body (the filename is sent as given).

    `task` is a Task, an id or a raw string; `fields` adds other form fields;
    `extra` goes to the request (headers as HTTP_..., CONTENT_LENGTH, ...).
    """
    form = dict(fields or {})
    if task is not None:
        form["task"] = str(getattr(task, "pk", task))
    body, multipart_type = multipart({field: (name, content, content_type)}, form)
    return client.generic("POST", FILES_URL, body, content_type=multipart_type, **extra)


def upload(client: Any, extension: str = "png", name: str | None = None, **kwargs: Any) -> dict:
    """Upload a real sample through the API; asserts 201 and returns the body."""
    response = post_file(client, name or f"sample.{extension}", sample(extension), **kwargs)
    assert response.status_code == 201, response.content
    return response.json()


def commands(packet: bytes) -> list[list[bytes]]:
    """The commands in a packet sent to Redis (RESP arrays of bulk strings), each as
    its arguments."""
    found, at = [], 0
    while at < len(packet):
        assert packet[at : at + 1] == b"*", packet[at:]
        end = packet.index(b"\r\n", at)
        count, at = int(packet[at + 1 : end]), end + 2
        arguments = []
        for _ in range(count):
            assert packet[at : at + 1] == b"$", packet[at:]
            end = packet.index(b"\r\n", at)
            size, at = int(packet[at + 1 : end]), end + 2
            arguments.append(packet[at : at + size])
            at += size + 2
        found.append(arguments)
    return found
