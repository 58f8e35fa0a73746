"""Event ids are drawn, and committed, in the order of the outbox's lock
(activity.services): a client that saw event N has seen, or can fetch, every event
before it. A single event takes the lock in its insert's own statement, and with
`record_with`, in the statement of the write it records, after the write's row."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from activity import services
from activity.models import Event
from taskmanager.statements import Statement
from tests.factories import TaskFactory
from tests.helpers import (
    own_connection,
    started_on_its_connection,
    waits_for_a_lock,
    waits_for_advisory_lock,
)

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the ordering lock is PostgreSQL's"
)


_LOCK = services._EVENT_ORDER_LOCK


def _record(subject_id: int) -> Event:
    return services.record(
        type="task.updated", subject_id=subject_id, actor=None, data={}, changes={}
    )


def _last_drawn_id() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT last_value FROM pg_sequences"
            " WHERE sequencename = pg_get_serial_sequence('activity_event', 'id')::regclass::name"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_waiting_for_the_lock_has_no_id_yet() -> None:
    held, release = threading.Event(), threading.Event()
    ids: dict[str, int] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                ids["first"] = _record(1).pk  # holds the lock until its commit
                held.set()
                release.wait(30)
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                ids["second"] = _record(2).pk
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert held.wait(30)
    threads[1].start()
    waiting = waits_for_advisory_lock(threads[1])
    # While the second insert waits for the lock, it has drawn no id: one drawn
    # before could be committed after a greater one.
    drawn_while_waiting = _last_drawn_id()
    release.set()
    for thread in threads:
        thread.join(30)

    assert waiting
    assert drawn_while_waiting == ids["first"]
    assert ids["second"] > ids["first"]
    assert list(Event.objects.order_by("id").values_list("subject_id", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_a_single_event_takes_the_lock_in_its_insert() -> None:
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        event = _record(7)
        second = _record(8)

    statements = [query["sql"] for query in captured.captured_queries]
    inserts = [sql for sql in statements if sql.startswith('INSERT INTO "activity_event"')]
    assert len(inserts) == 2
    assert all("pg_advisory_xact_lock" in sql for sql in inserts)
    # No statement of its own for the lock: one round trip per event.
    assert not [sql for sql in statements if sql.startswith("SELECT pg_advisory_xact_lock")]
    stored = Event.objects.get(pk=event.pk)
    assert (stored.subject_id, stored.type, stored.transaction_key) == (
        7,
        "task.updated",
        event.transaction_key,
    )
    assert stored.created_at is not None
    assert second.pk > event.pk
    assert not event._state.adding


def _write(subject_id: int) -> Statement:
    """A write that changes a row (a task's) and returns its id."""
    return "UPDATE tasks_task SET title = title || '!' WHERE id = %s RETURNING id", [subject_id]


def _record_with(subject_id: int) -> Event | None:
    return services.record_with(
        _write(subject_id),
        type="task.updated",
        subject_id=subject_id,
        actor=None,
        data={},
        changes={},
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_write_with_its_event_holds_no_lock_while_it_waits_for_its_row() -> None:
    # record_with's one statement writes the row first: a writer waiting for a row
    # holds no ordering lock, which the row's holder may be about to ask for.
    task = TaskFactory()
    recorded: list[Event | None] = []

    def write() -> None:
        with transaction.atomic():
            recorded.append(_record_with(task.pk))

    with own_connection() as holder:
        holder.execute("SELECT id FROM tasks_task WHERE id = %s FOR UPDATE", [task.pk])
        backend, thread = started_on_its_connection(write)
        deadline = time.monotonic() + 10
        while not waits_for_a_lock(backend):
            assert thread.is_alive(), "the write did not wait for the row"
            assert time.monotonic() < deadline, "the write did not wait for the row"
            time.sleep(0.02)
        # The ordering lock is free while the write waits.
        free = holder.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK]).fetchone()
        holder.rollback()
        thread.join(30)

    assert free == (True,)
    (event,) = recorded
    assert event is not None
    assert Event.objects.get(pk=event.pk).subject_id == task.pk


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_write_with_its_event_waiting_for_the_lock_has_no_event_id_yet() -> None:
    task = TaskFactory()
    held, release = threading.Event(), threading.Event()
    ids: dict[str, int] = {}

    def first() -> None:
        with transaction.atomic():
            ids["first"] = _record(1).pk  # holds the lock until its commit
            held.set()
            release.wait(30)

    def second() -> None:
        with transaction.atomic():
            event = _record_with(task.pk)
            assert event is not None
            ids["second"] = event.pk

    _, one = started_on_its_connection(first)
    assert held.wait(30)
    _, two = started_on_its_connection(second)
    waiting = waits_for_advisory_lock(two)
    drawn_while_waiting = _last_drawn_id()
    release.set()
    one.join(30)
    two.join(30)

    assert waiting
    assert drawn_while_waiting == ids["first"]
    assert ids["second"] > ids["first"]


@pytest.mark.django_db
def test_a_write_with_its_event_is_one_statement() -> None:
    task = TaskFactory()
    since = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0

    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        event = _record_with(task.pk)

    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, statements
    assert statements[0].startswith("WITH written(changed) AS (UPDATE tasks_task")
    assert event is not None
    assert list(Event.objects.filter(id__gt=since).values_list("id", "subject_id")) == [
        (event.pk, task.pk)
    ]
