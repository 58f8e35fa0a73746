"""`activity.services.record_with`: an event recorded with the write it records, on
every database; nothing recorded for a write that changed no row."""

import pytest
from django.db import connection, transaction

from activity import services
from activity.models import Event
from notifications.models import Notification
from taskmanager.statements import Statement
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import TRANSACTION_COMMANDS, sent_to_postgresql

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


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's transactions")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("assigned", [False, True])
def test_a_last_write_commits_by_itself_unless_a_hook_writes_for_its_event(assigned, member):
    other = UserFactory(username="ola", email="ola@example.com")
    task = TaskFactory(owner=member, project=shared_project(member, other))
    # An assignment of someone else: notifications' hook writes for it.
    change = {"assignee": [None, other.pk]} if assigned else {"title": ["Before", "After"]}

    with sent_to_postgresql() as sent, transaction.atomic():
        event = services.record_with(
            _retitle(task.pk, "After", version=task.version),
            last=True,
            type="task.updated",
            subject_id=task.pk,
            actor=member,
            data={"assignee": other.pk if assigned else None},
            changes=change,
            project_id=task.project_id,
        )

    assert event is not None
    if assigned:
        # The write waits for the hook's rows: begun before it, committed after them.
        assert sent[0] == 'Query "BEGIN"', sent
        assert sent[-1] == 'Query "COMMIT"', sent
    else:
        assert TRANSACTION_COMMANDS.isdisjoint(sent), sent
    assert Notification.objects.filter(user=other, task=task).exists() == assigned
