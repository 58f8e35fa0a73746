"""What a user may see is decided when a page is read: leaving a project (removed, or
the project deleted) is the project's `delete`; joining one brings it with everything
in it; what they never could see never appears."""

from typing import Any

import pytest

from accounts.models import User
from comments.services import comment_create, comment_delete
from projects.models import Project
from projects.services import (
    label_create,
    member_add,
    member_remove,
    project_create,
    project_delete,
)
from sync.models import DeletedProjectMember
from tasks.models import Task
from tasks.services import task_delete, task_update
from tests.factories import TaskFactory
from tests.sync.helpers import Replica, api_view, keys_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def furnished(member: User, other_member: User, garden: Project, committed: Any) -> Project:
    """Garden with a label, two tasks (one assigned to Otto), and a comment."""
    with committed():
        label = label_create(actor=member, project_id=garden.pk, name="soil", color="#663300")
        task = TaskFactory(owner=member, project=garden, title="Dig", labels=[label.pk])
        TaskFactory(owner=member, project=garden, title="Rake", assignee=other_member)
        comment_create(actor=member, task=task, body="Deep enough?")
    return garden


def synced(client: Any) -> Replica:
    replica = Replica()
    replica.sync(client)
    return replica


def contents(replica: Replica, project: Project) -> set[tuple[str, int]]:
    """The keys of the project's labels, tasks and their comments in the copy."""
    tasks = {pk for pk, data in replica.of_type("task").items() if data["project"] == project.pk}
    return (
        {("label", pk) for pk, d in replica.of_type("label").items() if d["project"] == project.pk}
        | {("task", pk) for pk in tasks}
        | {("comment", pk) for pk, d in replica.of_type("comment").items() if d["task"] in tasks}
    )


def test_a_removed_member_gets_the_projects_delete_and_nothing_of_it_after(
    member, other_member, other_member_client, furnished, committed
):
    replica = synced(other_member_client)
    assert len(contents(replica, furnished)) == 4
    with committed():
        member_remove(actor=member, project_id=furnished.pk, user_id=other_member.pk)
        TaskFactory(owner=member, project=furnished, title="After Otto left")

    run = replica.sync(other_member_client)

    # Not the unassignment of his task there, nor the new task: the project went.
    assert [change for body in run for change in body["changes"]] == [
        {"type": "project", "id": furnished.pk, "op": "delete", "data": None}
    ]
    assert contents(replica, furnished) == set()
    assert replica.objects == api_view(other_member_client)


def test_a_deleted_project_reaches_its_members_who_were_away(
    member,
    other_member,
    other_member_client,
    manager_client,
    outsider_client,
    furnished,
    committed,
):
    otto = synced(other_member_client)
    manager = synced(manager_client)
    outsider = synced(outsider_client)
    with committed():
        project_delete(actor=member, project_id=furnished.pk)

    assert keys_of(otto.sync(other_member_client)[0]["changes"]) == [("project", furnished.pk)]
    assert otto.objects == api_view(other_member_client)
    assert contents(otto, furnished) == set()
    # Who saw every project sees it go; an outsider hears nothing of it.
    assert keys_of(manager.sync(manager_client)[0]["changes"]) == [("project", furnished.pk)]
    assert outsider.sync(outsider_client)[0]["changes"] == []
    assert sorted(DeletedProjectMember.objects.values_list("user_id", flat=True)) == sorted(
        [member.pk, other_member.pk]
    )


def test_a_member_removed_before_the_deletion_hears_only_of_the_removal(
    member, other_member, other_member_client, furnished, committed
):
    replica = synced(other_member_client)
    with committed():
        member_remove(actor=member, project_id=furnished.pk, user_id=other_member.pk)
        project_delete(actor=member, project_id=furnished.pk)

    changes = replica.sync(other_member_client)[0]["changes"]

    assert changes == [{"type": "project", "id": furnished.pk, "op": "delete", "data": None}]
    assert list(DeletedProjectMember.objects.values_list("user_id", flat=True)) == [member.pk]


def test_a_member_added_gets_the_project_with_everything_in_it(
    member, outsider, outsider_client, furnished, committed
):
    replica = synced(outsider_client)
    with committed():
        member_add(actor=member, project_id=furnished.pk, identifier="oscar", role="viewer")

    run = replica.sync(outsider_client)

    assert keys_of(run[0]["changes"]) == [("project", furnished.pk)]
    assert run[0]["has_more"] is True
    assert len(contents(replica, furnished)) == 4
    assert replica.objects == api_view(outsider_client)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_joining_a_project_bigger_than_a_page_brings_it_in_pages_of_500(
    member, other_member, outsider, outsider_client, garden
):
    Task.objects.bulk_create(
        Task(project=garden, owner=member, title=f"Task {n}", position=f"{n:010d}")
        for n in range(700)
    )
    replica = synced(outsider_client)
    TaskFactory(owner=member, project=garden, title="Before Oscar came")
    member_add(actor=member, project_id=garden.pk, identifier="oscar", role="member")
    TaskFactory(owner=other_member, project=garden, title="After Oscar came")

    run = replica.sync(outsider_client)

    # The changes since (two tasks, the project he joined), then the project with all
    # its 702 tasks, by 500.
    assert [len(body["changes"]) for body in run] == [3, 500, 203]
    assert all(body["has_more"] for body in run[:-1])
    assert len(replica.of_type("task")) == 702
    assert replica.objects == api_view(outsider_client)


def test_removed_and_added_again_while_away_brings_the_project_back_as_it_is(
    member, other_member, other_member_client, furnished, committed
):
    replica = synced(other_member_client)
    dig = Task.objects.get(project=furnished, title="Dig")
    with committed():
        member_remove(actor=member, project_id=furnished.pk, user_id=other_member.pk)
        task_update(actor=member, task_id=dig.pk, data={"title": "Dig deeper"})
        TaskFactory(owner=member, project=furnished, title="Water")
        member_add(actor=member, project_id=furnished.pk, identifier="otto", role="member")

    run = replica.sync(other_member_client)

    changes = [change for body in run for change in body["changes"]]
    assert ("project", furnished.pk) in keys_of(changes)
    assert all(change["op"] == "upsert" for change in changes)
    assert replica.objects[("task", dig.pk)]["title"] == "Dig deeper"
    assert replica.objects == api_view(other_member_client)


def test_another_users_private_task_never_appears(
    member_client, other_member, manager_client, committed
):
    mia = synced(member_client)
    manager = synced(manager_client)
    with committed():
        private = TaskFactory(owner=other_member, title="Otto's private task")
        task_update(actor=other_member, task_id=private.pk, data={"status": "completed"})
        comment = comment_create(actor=other_member, task=private, body="Note to self")
        comment_delete(actor=other_member, comment_id=comment.pk)
        task_delete(actor=other_member, task_id=private.pk)

    assert mia.sync(member_client)[0]["changes"] == []
    assert ("task", private.pk) not in mia.objects
    # A site manager sees it all: the task, and the comment, both gone since.
    assert sorted(keys_of(manager.sync(manager_client)[0]["changes"])) == [
        ("comment", comment.pk),
        ("task", private.pk),
    ]


def test_a_task_moved_out_of_sight_goes_and_one_moved_in_comes_with_its_comments(
    member_client, other_member, furnished, committed
):
    with committed():
        shed = project_create(actor=other_member, name="Shed")
        task = TaskFactory(owner=other_member, project=shed, title="Oil the hinges")
        comments = [
            comment_create(actor=other_member, task=task, body=f"Note {n}") for n in range(3)
        ]
    replica = synced(member_client)
    with committed():
        task_update(actor=other_member, task_id=task.pk, data={"project": furnished})

    replica.sync(member_client)

    assert replica.objects[("task", task.pk)]["project"] == furnished.pk
    assert set(replica.of_type("comment")) >= {comment.pk for comment in comments}
    assert replica.objects == api_view(member_client)

    with committed():
        task_update(actor=other_member, task_id=task.pk, data={"project": shed})
    changes = replica.sync(member_client)[0]["changes"]

    assert changes == [{"type": "task", "id": task.pk, "op": "delete", "data": None}]
    assert replica.objects == api_view(member_client)


def test_a_viewer_and_a_member_see_the_same_project(
    member, other_member_client, outsider_client, furnished, committed
):
    with committed():
        member_add(actor=member, project_id=furnished.pk, identifier="oscar", role="viewer")

    viewer = synced(outsider_client)
    otto = synced(other_member_client)

    assert contents(viewer, furnished) == contents(otto, furnished)
    assert viewer.objects[("project", furnished.pk)]["role"] == "viewer"
    assert otto.objects[("project", furnished.pk)]["role"] == "member"
