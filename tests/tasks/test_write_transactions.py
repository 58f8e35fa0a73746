"""On PostgreSQL, a PATCH of a task's own fields (its read in hand) writes the task and
its event in one statement that commits by itself: neither `BEGIN` nor `COMMIT` is
sent; so does a create without labels, parent or assignee, its project's lock, position
and id drawn in the statement. A change that a hook writes for (an assignment, with its
notification), one made again after a stale read and a create whose position SQL does
not compute keep their transaction."""

import time
from typing import Any

import pytest
from django.db import connection

from activity.models import Event
from notifications import services as notifications
from notifications.models import Notification
from projects.models import Project
from tasks import services
from tasks.models import Task
from tasks.state import task_state
from tests.factories import TaskFactory, shared_project
from tests.helpers import (
    TASKS_URL,
    TRANSACTION_COMMANDS,
    own_connection,
    sent_to_postgresql,
    started_on_its_connection,
    task_url,
    waits_for_a_lock,
)

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


def test_a_create_is_one_statement_that_commits_by_itself(member, member_client):
    with sent_to_postgresql() as sent:
        response = member_client.post(TASKS_URL, {"title": "Sow"}, format="json")

    assert response.status_code == 201, response.content
    assert _transaction_commands(sent) == []
    created = response.json()
    task = Task.objects.get(pk=created["id"])
    assert (task.project_id, task.position) == (created["project"], created["position"])
    assert task.project.personal_owner_id == member.pk
    (event,) = Event.objects.filter(subject_id=task.pk, type="task.created")
    # Its id, project and position drawn in the statement, named by the event.
    assert event.project_id == task.project_id
    assert event.data == task_state(task)
    assert event.changes["project"] == [None, task.project_id]
    assert event.changes["position"] == [None, task.position]
    assert event.changes["title"] == [None, "Sow"]


def test_creates_in_a_shared_project_follow_each_other(member, other_member, member_client):
    project = shared_project(member, other_member)
    first = TaskFactory(owner=other_member, project=project)
    assert first.position == "1000000000"

    with sent_to_postgresql() as sent:
        ids = [
            member_client.post(
                TASKS_URL, {"title": f"Task {n}", "project": project.pk}, format="json"
            ).json()["id"]
            for n in range(3)
        ]

    assert _transaction_commands(sent) == []
    positions = list(Task.objects.filter(pk__in=ids).order_by("pk").values_list("position"))
    assert positions == [("1000010000",), ("1000020000",), ("1000030000",)]
    events = Event.objects.filter(subject_id__in=ids, type="task.created")
    assert sorted(events.values_list("subject_id", "project_id")) == [(i, project.pk) for i in ids]


def test_a_create_past_the_range_is_computed_in_python_in_a_transaction(member, member_client):
    last = TaskFactory(owner=member)
    Task.objects.filter(pk=last.pk).update(position="zzzzzzzzzz")

    with sent_to_postgresql() as sent:
        response = member_client.post(TASKS_URL, {"title": "Past"}, format="json")

    assert response.status_code == 201, response.content
    assert _transaction_commands(sent) == ['Query "BEGIN"', 'Query "COMMIT"']
    created = response.json()
    assert created["project"] == last.project_id
    assert created["position"] > "zzzzzzzzzz"
    assert Event.objects.filter(subject_id=created["id"], type="task.created").count() == 1


def test_a_create_waiting_for_the_projects_lock_reads_the_position_committed_meanwhile(
    member,
):
    personal = Project.objects.get(personal_owner=member)
    task = TaskFactory(owner=member, project=personal)
    created: list[Task] = []

    with own_connection() as holder:
        holder.execute("SELECT id FROM projects_project WHERE id = %s FOR UPDATE", [personal.pk])
        pid, thread = started_on_its_connection(
            lambda: created.append(services.task_create(actor=member, title="Waited"))
        )
        deadline = time.monotonic() + 10
        while not waits_for_a_lock(pid):
            assert time.monotonic() < deadline, "the create did not wait for the lock"
            time.sleep(0.02)
        holder.execute("UPDATE tasks_task SET position = '2000000000' WHERE id = %s", [task.pk])
        holder.commit()
        thread.join(timeout=10)

    (waited,) = created
    # The statement began before the holder's commit; its position was read after.
    assert waited.position == "2000010000"
    assert Task.objects.get(pk=waited.pk).position == "2000010000"
