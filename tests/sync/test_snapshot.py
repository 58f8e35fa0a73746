"""GET /sync/ without a cursor: a snapshot of every project, label, task and comment
the caller can see, 500 at most a page, each object once, as the API shows it; what
changes while it is paged comes after it."""

from typing import Any

import pytest

from accounts.models import User
from comments.services import comment_create
from projects.models import Project
from projects.services import label_create
from tasks.models import Task
from tasks.services import task_delete, task_update
from tests.factories import TaskFactory
from tests.sync.helpers import Replica, api_view, keys_of, sync_page

pytestmark = pytest.mark.django_db


def many_tasks(project: Project, owner: User, count: int) -> list[Task]:
    """`count` tasks in `project`, written at once: a snapshot needs no events."""
    return Task.objects.bulk_create(
        Task(project=project, owner=owner, title=f"Task {n}", position=f"{n:010d}")
        for n in range(count)
    )


@pytest.fixture
def crowded(member: User, other_member: User, garden: Project, committed: Any) -> Project:
    """Garden with 3 labels, 520 tasks and 10 comments; Otto's private tasks beside."""
    with committed():
        for name in ("red", "green", "blue"):
            label_create(actor=member, project_id=garden.pk, name=name, color="#aa0000")
        tasks = many_tasks(garden, other_member, 520)
        for task in tasks[:10]:
            comment_create(actor=other_member, task=task, body=f"About {task.title}")
        TaskFactory(owner=other_member, title="Otto's private task")
    return garden


def test_a_snapshot_pages_through_everything_you_see_each_object_once(member_client, crowded):
    first = sync_page(member_client)
    second = sync_page(member_client, first["cursor"])

    # Mia's personal project and Garden, its 3 labels, 520 tasks and 10 comments.
    assert len(first["changes"]) == 500
    assert first["has_more"] is True
    assert len(second["changes"]) == 35
    assert second["has_more"] is False
    changes = first["changes"] + second["changes"]
    assert {change["op"] for change in changes} == {"upsert"}
    keys = keys_of(changes)
    assert len(set(keys)) == len(keys) == 535
    assert {key: change["data"] for key, change in zip(keys, changes, strict=True)} == api_view(
        member_client
    )


def test_a_snapshot_comes_projects_first_then_labels_tasks_and_comments(member_client, crowded):
    replica = Replica()
    replica.sync(member_client)

    kinds = [change["type"] for body in replica.pages for change in body["changes"]]
    assert kinds == sorted(kinds, key=["project", "label", "task", "comment"].index)
    ids = [change["id"] for body in replica.pages for change in body["changes"]]
    for kind in ("project", "label", "task", "comment"):
        of_kind = [pk for pk, k in zip(ids, kinds, strict=True) if k == kind]
        assert of_kind == sorted(of_kind), kind


def test_a_snapshot_shows_nothing_you_cannot_see(outsider_client, outsider, crowded):
    replica = Replica()
    replica.sync(outsider_client)

    # His personal project, nothing of Garden or of Otto's.
    assert list(replica.objects) == [("project", outsider.personal_project.pk)]
    assert replica.objects == api_view(outsider_client)


def test_a_site_manager_snapshot_holds_every_project_and_task(
    manager_client, member, other_member, crowded
):
    replica = Replica()
    replica.sync(manager_client)

    assert set(replica.of_type("project")) == set(Project.objects.values_list("pk", flat=True))
    assert set(replica.of_type("task")) == set(Task.objects.values_list("pk", flat=True))
    # Garden, as the manager reads it: no role of theirs in it.
    assert replica.objects[("project", crowded.pk)]["role"] is None
    assert (
        manager_client.get(f"/api/v1/projects/{crowded.pk}/").json()
        == replica.objects[("project", crowded.pk)]
    )


def test_each_object_is_what_its_own_get_shows(member_client, crowded):
    replica = Replica()
    replica.sync(member_client)

    comment_id = min(replica.of_type("comment"))
    label_id = min(replica.of_type("label"))
    task_id = min(replica.of_type("task"))
    assert (
        member_client.get(f"/api/v1/projects/{crowded.pk}/").json()
        == replica.objects[("project", crowded.pk)]
    )
    assert (
        member_client.get(f"/api/v1/labels/{label_id}/").json()
        == replica.objects[("label", label_id)]
    )
    assert (
        member_client.get(f"/api/v1/tasks/{task_id}/").json() == replica.objects[("task", task_id)]
    )
    assert (
        member_client.get(f"/api/v1/comments/{comment_id}/").json()
        == replica.objects[("comment", comment_id)]
    )


def test_what_changes_while_a_snapshot_is_paged_comes_after_it(
    member_client, member, other_member, crowded, committed
):
    first = sync_page(member_client)
    sent = [change["id"] for change in first["changes"] if change["type"] == "task"]
    replica = Replica()
    replica.apply(first["changes"])
    replica.cursor = first["cursor"]
    with committed():
        # A task already sent changes, another is deleted, and one is created (with an
        # id after every task: the snapshot's next page may show it too).
        task_update(actor=member, task_id=sent[0], data={"title": "Changed meanwhile"})
        task_delete(actor=member, task_id=sent[1])
        TaskFactory(owner=other_member, project=crowded, title="New meanwhile")
        task_update(actor=member, task_id=sent[-1] + 3, data={"status": "completed"})

    replica.sync(member_client)

    assert replica.objects == api_view(member_client)
    assert replica.objects[("task", sent[0])]["title"] == "Changed meanwhile"
    assert ("task", sent[1]) not in replica.objects


def test_a_snapshot_of_an_empty_account_is_one_page(outsider_client, outsider):
    body = sync_page(outsider_client)

    assert keys_of(body["changes"]) == [("project", outsider.personal_project.pk)]
    assert body["has_more"] is False
    # Nothing new since: the next page is empty, and ends there too.
    after = sync_page(outsider_client, body["cursor"])
    assert after["changes"] == []
    assert after["has_more"] is False
