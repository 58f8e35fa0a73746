"""`activity.services.record_with`: an event recorded with the write it records, on
every database; nothing recorded for a write that changed no row."""

import pytest
from django.db import transaction

from activity import services
from activity.models import Event
from taskmanager.statements import Statement
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def _retitle(task_id: int, title: str, *, version: int) -> Statement:
    return (
        "UPDATE tasks_task SET title = %s WHERE id = %s AND version = %s RETURNING id",
        [title, task_id, version],
    )


def _record_with(write: Statement, subject_id: int) -> Event | None:
    return services.record_with(
        write, type="task.updated", subject_id=subject_id, actor=None, data={}, changes={}
    )


def _mark() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events_since(since: int) -> list[int]:
    """The subjects of the events after `since`, in order."""
    events = Event.objects.filter(id__gt=since).order_by("id")
    return list(events.values_list("subject_id", flat=True))


def test_the_write_and_its_event_are_recorded():
    task = TaskFactory(title="Before")

    with transaction.atomic():
        event = _record_with(_retitle(task.pk, "After", version=task.version), task.pk)

    task.refresh_from_db()
    assert task.title == "After"
    assert event is not None
    assert Event.objects.get(pk=event.pk).subject_id == task.pk


def test_a_write_that_changes_no_row_records_nothing():
    task = TaskFactory(title="Before")
    since = _mark()

    with transaction.atomic():
        event = _record_with(_retitle(task.pk, "After", version=task.version + 1), task.pk)

    assert event is None
    task.refresh_from_db()
    assert task.title == "Before"
    assert _events_since(since) == []


def test_with_events_waiting_for_their_insert_it_comes_after_them():
    first, second = TaskFactory(), TaskFactory()
    since = _mark()

    with transaction.atomic(), services.many_events():
        services.record(type="task.updated", subject_id=first.pk, actor=None, data={}, changes={})
        event = _record_with(_retitle(second.pk, "Second", version=second.version), second.pk)
        # Written at once, its event inserted with the batch's, in the order recorded.
        second.refresh_from_db()
        assert second.title == "Second"

    assert event is not None
    assert _events_since(since) == [first.pk, second.pk]
