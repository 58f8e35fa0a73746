"""Event ids are drawn, and committed, in the order of the outbox's lock
(activity.services): a client that saw event N has seen, or can fetch, every event
before it. A single event takes the lock in its insert's own statement."""

import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from activity import services
from activity.models import Event
from tests.helpers import waits_for_advisory_lock

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the ordering lock is PostgreSQL's"
)


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
