"""GET /sync/ with a cursor: the objects changed since, each once as it is now, at most
500 a page, pages ending between transactions only."""

from typing import Any

import pytest

from accounts.models import User
from comments.models import Comment
from comments.services import comment_create, comment_delete, comment_update
from projects.models import Label, Project
from projects.services import (
    label_create,
    label_delete,
    label_update,
    member_add,
    member_set_role,
    project_create,
    project_update,
)
from sync import pages
from tasks.models import Task
from tasks.services import task_delete, task_update
from tests.factories import TaskFactory
from tests.sync.helpers import Replica, api_view, keys_of, sync_page

pytestmark = pytest.mark.django_db

BULK_URL = "/api/v1/tasks/bulk/"


@pytest.fixture
def replica(member_client: Any, garden: Project) -> Replica:
    """Mia's copy, synced to now."""
    found = Replica()
    found.sync(member_client)
    return found


def next_changes(client: Any, replica: Replica) -> list[dict[str, Any]]:
    """The changes since the replica's cursor (one page, the last), applied."""
    body = sync_page(client, replica.cursor)
    assert body["has_more"] is False
    replica.apply(body["changes"])
    replica.cursor = body["cursor"]
    return list(body["changes"])


def many_tasks(project: Project, owner: User, count: int, **fields: Any) -> list[Task]:
    return Task.objects.bulk_create(
        Task(project=project, owner=owner, title=f"Task {n}", position=f"{n:010d}", **fields)
        for n in range(count)
    )


def bulk(client: Any, tasks: list[Task], committed: Any, **changes: Any) -> None:
    with committed():
        response = client.post(
            BULK_URL, {"ids": [task.pk for task in tasks], "set": changes}, format="json"
        )
    assert response.status_code == 200, response.content


# --- each type: created, changed, deleted ---------------------------------------------


def test_a_task_created_changed_and_deleted_comes_as_upsert_upsert_delete(
    member_client, other_member, garden, replica, committed
):
    with committed():
        task = TaskFactory(owner=other_member, project=garden, title="Plant")
    created = next_changes(member_client, replica)
    with committed():
        task_update(actor=other_member, task_id=task.pk, data={"status": "completed"})
    changed = next_changes(member_client, replica)
    shown = member_client.get(f"/api/v1/tasks/{task.pk}/").json()
    with committed():
        task_delete(actor=other_member, task_id=task.pk)
    deleted = next_changes(member_client, replica)

    assert keys_of(created) == [("task", task.pk)]
    assert created[0]["op"] == "upsert"
    assert created[0]["data"]["title"] == "Plant"
    assert changed == [{"type": "task", "id": task.pk, "op": "upsert", "data": shown}]
    assert shown["status"] == "completed"
    assert deleted == [{"type": "task", "id": task.pk, "op": "delete", "data": None}]
    assert replica.objects == api_view(member_client)


def test_a_project_created_and_changed_comes_as_upserts(member, member_client, replica, committed):
    with committed():
        project = project_create(actor=member, name="Orchard")
    created = next_changes(member_client, replica)
    with committed():
        project_update(actor=member, project_id=project.pk, data={"is_archived": True})
    changed = next_changes(member_client, replica)

    assert created == [
        {
            "type": "project",
            "id": project.pk,
            "op": "upsert",
            "data": {**created[0]["data"], "name": "Orchard", "role": "admin", "version": 1},
        }
    ]
    assert changed == [
        {
            "type": "project",
            "id": project.pk,
            "op": "upsert",
            "data": member_client.get(f"/api/v1/projects/{project.pk}/").json(),
        }
    ]
    assert changed[0]["data"]["is_archived"] is True
    assert replica.objects == api_view(member_client)


def test_a_change_of_members_changes_the_project(
    member, member_client, outsider, garden, replica, committed
):
    with committed():
        member_add(actor=member, project_id=garden.pk, identifier="oscar", role="viewer")
    added = next_changes(member_client, replica)
    with committed():
        member_set_role(actor=member, project_id=garden.pk, user_id=outsider.pk, role="member")
    changed = next_changes(member_client, replica)

    assert keys_of(added) == [("project", garden.pk)]
    assert added[0]["data"]["members_count"] == 3
    assert keys_of(changed) == [("project", garden.pk)]
    assert changed[0]["data"]["version"] == added[0]["data"]["version"] + 1
    assert replica.objects == api_view(member_client)


def test_a_label_created_changed_and_deleted_comes_as_upsert_upsert_delete(
    member, member_client, garden, replica, committed
):
    with committed():
        label = label_create(actor=member, project_id=garden.pk, name="urgent", color="#FF0000")
    created = next_changes(member_client, replica)
    with committed():
        label_update(actor=member, label_id=label.pk, data={"name": "later"})
    changed = next_changes(member_client, replica)
    with committed():
        label_delete(actor=member, label_id=label.pk)
    deleted = next_changes(member_client, replica)

    assert created == [
        {
            "type": "label",
            "id": label.pk,
            "op": "upsert",
            "data": {"id": label.pk, "project": garden.pk, "name": "urgent", "color": "#ff0000"},
        }
    ]
    assert changed[0]["data"]["name"] == "later"
    assert deleted == [{"type": "label", "id": label.pk, "op": "delete", "data": None}]
    assert replica.objects == api_view(member_client)


def test_a_label_deleted_takes_itself_off_its_tasks_in_the_same_page(
    member, member_client, other_member, garden, replica, committed
):
    with committed():
        label = label_create(actor=member, project_id=garden.pk, name="urgent", color="#ff0000")
        tasks = [
            TaskFactory(owner=other_member, project=garden, labels=[label.pk]) for _ in range(2)
        ]
    next_changes(member_client, replica)
    with committed():
        label_delete(actor=member, label_id=label.pk)
    deleted = next_changes(member_client, replica)

    assert sorted(keys_of(deleted)) == sorted(
        [("label", label.pk), *(("task", task.pk) for task in tasks)]
    )
    assert all(replica.objects[("task", task.pk)]["labels"] == [] for task in tasks)
    assert replica.objects == api_view(member_client)


def test_a_comment_created_changed_and_deleted_comes_as_upsert_upsert_delete(
    member, member_client, other_member, garden, replica, committed
):
    with committed():
        task = TaskFactory(owner=other_member, project=garden)
    next_changes(member_client, replica)
    with committed():
        comment = comment_create(actor=other_member, task=task, body="Looks good @mia")
    created = next_changes(member_client, replica)
    with committed():
        comment_update(actor=other_member, comment_id=comment.pk, body="Looks fine")
    changed = next_changes(member_client, replica)
    shown = member_client.get(f"/api/v1/comments/{comment.pk}/").json()
    with committed():
        comment_delete(actor=other_member, comment_id=comment.pk)
    deleted = next_changes(member_client, replica)

    assert keys_of(created) == [("comment", comment.pk)]
    assert created[0]["data"]["mentions"] == [member.pk]
    assert changed == [{"type": "comment", "id": comment.pk, "op": "upsert", "data": shown}]
    assert shown["edited"] is True
    assert deleted == [{"type": "comment", "id": comment.pk, "op": "delete", "data": None}]
    assert replica.objects == api_view(member_client)


def test_a_deleted_task_takes_its_comments_without_a_change_each(
    member_client, other_member, garden, replica, committed
):
    with committed():
        task = TaskFactory(owner=other_member, project=garden)
        comment_create(actor=other_member, task=task, body="First")
    next_changes(member_client, replica)
    assert len(replica.of_type("comment")) == 1
    with committed():
        task_delete(actor=other_member, task_id=task.pk)

    deleted = next_changes(member_client, replica)

    assert deleted == [{"type": "task", "id": task.pk, "op": "delete", "data": None}]
    assert replica.of_type("comment") == {}
    assert not Comment.objects.exists()


# --- one change per object, in the order of their latest changes ----------------------


def test_an_object_changed_many_times_comes_once_as_it_is_now(
    member, member_client, other_member, garden, replica, committed
):
    with committed():
        task = TaskFactory(owner=other_member, project=garden, title="v1")
        other = TaskFactory(owner=other_member, project=garden, title="other")
        for title in ("v2", "v3", "v4"):
            task_update(actor=member, task_id=task.pk, data={"title": title})

    changes = next_changes(member_client, replica)

    # The task's latest change is after the other's creation: it comes last.
    assert keys_of(changes) == [("task", other.pk), ("task", task.pk)]
    assert changes[1]["data"]["title"] == "v4"
    assert changes[1]["data"]["version"] == 4


def test_an_object_created_and_deleted_since_comes_as_a_delete(
    member_client, other_member, garden, replica, committed
):
    with committed():
        task = TaskFactory(owner=other_member, project=garden)
        task_delete(actor=other_member, task_id=task.pk)

    assert next_changes(member_client, replica) == [
        {"type": "task", "id": task.pk, "op": "delete", "data": None}
    ]


# --- 500 a page, never inside a transaction -------------------------------------------
# Each write its own transaction, as in production (a test's writes share one).
separately_committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@separately_committed
def test_a_page_holds_at_most_500_changes(
    member, member_client, garden, replica, committed, bulk_rates
):
    tasks = many_tasks(garden, member, 600)
    for start in range(0, 600, 100):
        bulk(member_client, tasks[start : start + 100], committed, status="completed")

    first = sync_page(member_client, replica.cursor)
    second = sync_page(member_client, first["cursor"])

    assert len(first["changes"]) == 500
    assert first["has_more"] is True
    assert len(second["changes"]) == 100
    assert second["has_more"] is False
    keys = keys_of(first["changes"] + second["changes"])
    assert sorted(keys) == sorted(("task", task.pk) for task in tasks)
    replica.apply(first["changes"] + second["changes"])
    assert replica.objects == api_view(member_client)


@separately_committed
def test_a_page_never_ends_inside_a_transaction(
    member, member_client, garden, replica, committed, bulk_rates
):
    tasks = many_tasks(garden, member, 550)
    # 450 changes in 54 transactions (4 bulk changes of 100, 50 single ones), then a
    # bulk change of 100: a page of 500 would end after its 50th task.
    for start in range(0, 400, 100):
        bulk(member_client, tasks[start : start + 100], committed, priority="high")
    with committed():
        for task in tasks[400:450]:
            task_update(actor=member, task_id=task.pk, data={"priority": "low"})
    bulk(member_client, tasks[450:], committed, status="in_progress")

    first = sync_page(member_client, replica.cursor)
    second = sync_page(member_client, first["cursor"])

    assert len(first["changes"]) == 450
    assert first["has_more"] is True
    assert sorted(keys_of(second["changes"])) == sorted(("task", t.pk) for t in tasks[450:])
    assert second["has_more"] is False


@separately_committed
def test_a_transaction_of_more_than_500_changes_comes_whole_in_one_page(
    member, member_client, garden, replica, committed
):
    with committed():
        label = label_create(actor=member, project_id=garden.pk, name="all", color="#00ff00")
        single = TaskFactory(owner=member, project=garden)
    tasks = many_tasks(garden, member, 600, label_ids=[label.pk])
    Task.labels.through.objects.bulk_create(
        Task.labels.through(task_id=task.pk, label_id=label.pk) for task in tasks
    )
    with committed():
        # After the label's creation, another transaction: the label's deletion (one
        # transaction: the label and its 600 tasks) comes alone in the next page.
        task_update(actor=member, task_id=single.pk, data={"title": "Alone"})
        label_delete(actor=member, label_id=label.pk)

    first = sync_page(member_client, replica.cursor)
    second = sync_page(member_client, first["cursor"])

    assert keys_of(first["changes"]) == [("label", label.pk), ("task", single.pk)]
    assert first["has_more"] is True
    assert len(second["changes"]) == 601
    assert second["has_more"] is False
    assert {key[0] for key in keys_of(second["changes"])} == {"label", "task"}


@separately_committed
def test_a_smaller_page_size_keeps_transactions_whole(
    member, member_client, garden, replica, committed, bulk_rates, monkeypatch
):
    monkeypatch.setattr(pages, "PAGE_CHANGES", 30)
    tasks = many_tasks(garden, member, 100)
    with committed():
        for task in tasks[:20]:
            task_update(actor=member, task_id=task.pk, data={"title": "Single"})
    bulk(member_client, tasks[:50], committed, status="completed")
    bulk(member_client, tasks[50:], committed, status="completed")

    run = replica.sync(member_client)

    assert [len(body["changes"]) for body in run] == [20, 50, 50]
    assert replica.objects == api_view(member_client)


@separately_committed
def test_many_events_of_few_objects_make_pages_of_bounded_reads(
    member, member_client, other_member, garden, replica, committed, monkeypatch
):
    monkeypatch.setattr(pages, "EVENTS_PER_READ", 4)
    monkeypatch.setattr(pages, "EVENTS_PER_PAGE", 10)
    with committed():
        task = TaskFactory(owner=other_member, project=garden)
        for n in range(30):
            task_update(actor=member, task_id=task.pk, data={"title": f"Take {n}"})

    run = replica.sync(member_client)

    # 31 transactions, 10 at most read a page (the 11th is read to know the 10th ended).
    assert len(run) == 4
    assert all(keys_of(body["changes"]) == [("task", task.pk)] for body in run)
    assert replica.objects[("task", task.pk)]["title"] == "Take 29"
    assert replica.objects == api_view(member_client)


def test_nothing_new_is_an_empty_last_page(member_client, replica):
    body = sync_page(member_client, replica.cursor)

    assert body["changes"] == []
    assert body["has_more"] is False


def test_the_labels_of_another_project_are_not_mixed_in(
    member_client, other_member, replica, committed
):
    with committed():
        elsewhere = project_create(actor=other_member, name="Elsewhere")
        label_create(actor=other_member, project_id=elsewhere.pk, name="x", color="#000000")

    assert next_changes(member_client, replica) == []
    assert not Label.objects.filter(project__memberships__user__username="mia").exists()
