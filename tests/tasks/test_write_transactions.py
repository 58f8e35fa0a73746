"""On PostgreSQL, a PATCH of a task's own fields (its read in hand) writes the task and
its event in one statement that commits by itself: neither `BEGIN` nor `COMMIT` is
sent. A change that a hook writes for (an assignment, with its notification) and one
made again after a stale read keep their transaction."""

from typing import Any

import pytest
from django.db import connection

from activity.models import Event
from notifications import services as notifications
from notifications.models import Notification
from tasks import services
from tasks.models import Task
from tests.factories import TaskFactory, shared_project
from tests.helpers import TRANSACTION_COMMANDS, sent_to_postgresql, task_url

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's transactions"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _transaction_commands(sent: list[str]) -> list[str]:
    return [message for message in sent if message in TRANSACTION_COMMANDS]


def test_a_patch_of_its_own_fields_sends_no_begin_and_no_commit(member_client, task):
    with sent_to_postgresql() as sent:
        response = member_client.patch(
            task_url(task),
            {"status": "completed"},
            format="json",
            HTTP_IF_MATCH=f'"{task.pk}-{task.version}"',
        )

    assert response.status_code == 200, response.content
    assert _transaction_commands(sent) == []
    task.refresh_from_db()
    assert (task.status, task.version) == ("completed", 2)
    (event,) = Event.objects.filter(subject_id=task.pk, type="task.updated")
    assert event.changes["status"] == ["pending", "completed"]


def test_an_assignment_commits_with_its_notification(member, other_member, member_client):
    task = TaskFactory(owner=member, project=shared_project(member, other_member))

    with sent_to_postgresql() as sent:
        response = member_client.patch(task_url(task), {"assignee": other_member.pk}, format="json")

    assert response.status_code == 200, response.content
    assert _transaction_commands(sent) == ['Query "BEGIN"', 'Query "COMMIT"']
    assert Notification.objects.filter(user=other_member, task=task).count() == 1


def test_a_failing_notification_undoes_the_assignment(
    member, other_member, member_client, monkeypatch
):
    task = TaskFactory(owner=member, project=shared_project(member, other_member))

    def refuse(notification: Any) -> None:
        raise RuntimeError("the notification's event failed")

    monkeypatch.setattr(notifications.events, "record_created", refuse)
    response = member_client.patch(task_url(task), {"assignee": other_member.pk}, format="json")

    assert response.status_code == 500

    task.refresh_from_db()
    assert (task.assignee_id, task.version) == (None, 1)
    assert not Notification.objects.exists()
    assert not Event.objects.filter(subject_id=task.pk, type="task.updated").exists()


def test_a_change_on_a_stale_read_is_made_again_in_a_transaction(member):
    task = TaskFactory(owner=member)
    stale = Task.objects.select_related("project").get(pk=task.pk)
    Task.objects.filter(pk=task.pk).update(title="Moved on", version=2)

    with sent_to_postgresql() as sent:
        written = services.task_update(
            actor=member, task_id=task.pk, data={"status": "completed"}, read=stale
        )

    # The conditional write matched no row and committed nothing; the change was made
    # from the locked row, in a transaction.
    assert _transaction_commands(sent) == ['Query "BEGIN"', 'Query "COMMIT"']
    task.refresh_from_db()
    assert (task.title, task.status, task.version) == ("Moved on", "completed", 3)
    assert written.version == 3
    (event,) = Event.objects.filter(subject_id=task.pk, type="task.updated")
    assert event.changes["status"] == ["pending", "completed"]
    assert "title" not in event.changes
