"""GET tasks/{id}/events/ of a deleted task: events outlive their task, and the
audience of its deletion event, as the feed decides (the members of the project it
was deleted from, "see all" holders), still reads its history. Anyone else (a member
who left the project too), and an id that never was a task, gets 404."""

import pytest

from activity.models import Event
from projects.services import member_remove
from tasks.services import task_delete, task_update
from tests.factories import TaskFactory, shared_project
from tests.helpers import EVENT_SHAPE, assert_error, page
from tests.tasks.helpers import events_url

pytestmark = pytest.mark.django_db


def history(client, task_id, **params):
    body = page(client.get(events_url(task_id), {"limit": 100, **params}))
    for event in body["results"]:
        assert set(event) == EVENT_SHAPE, event
    return body


def stored_ids(task_id):
    return list(
        Event.objects.filter(type__startswith="task.", subject_id=task_id)
        .order_by("id")
        .values_list("id", flat=True)
    )


def deleted_after_a_change(task, actor):
    task_update(actor=actor, task_id=task.pk, data={"title": "renamed"})
    task_delete(actor=actor, task_id=task.pk)
    return task.pk


def test_the_owner_reads_the_whole_history_of_a_deleted_task_oldest_first(
    member_client, member, task
):
    task_id = deleted_after_a_change(task, member)

    body = history(member_client, task_id)

    assert body["count"] == 3
    assert [event["id"] for event in body["results"]] == stored_ids(task_id)
    assert [event["kind"] for event in body["results"]] == ["created", "updated", "deleted"]
    assert {event["task"] for event in body["results"]} == {task_id}
    assert body["results"][-1]["actor"] == member.pk


def test_a_member_of_its_project_reads_the_history_of_a_deleted_task(
    member_client, other_member, assigned_task
):
    task_id = deleted_after_a_change(assigned_task, other_member)

    kinds = [event["kind"] for event in history(member_client, task_id)["results"]]

    assert kinds == ["created", "updated", "deleted"]


@pytest.mark.parametrize("client_name", ["manager_client", "admin_client"])
def test_see_all_holders_read_the_history_of_anyones_deleted_task(
    request, client_name, other_member, others_task
):
    task_id = deleted_after_a_change(others_task, other_member)

    body = history(request.getfixturevalue(client_name), task_id)

    assert [event["id"] for event in body["results"]] == stored_ids(task_id)


def test_another_member_gets_404_for_a_deleted_task_they_never_saw(
    other_member_client, member, task
):
    task_id = deleted_after_a_change(task, member)

    assert_error(other_member_client.get(events_url(task_id)), 404, "not_found")


def test_a_former_member_of_its_project_gets_404_as_for_the_task_before_its_deletion(
    member_client, other_member, member, committed
):
    # A member, then removed, then the task deleted: it was out of her sight when it
    # went, as it is out of it while it exists (404 then too).
    project = shared_project(other_member, member)
    task = TaskFactory(owner=other_member, project=project)
    with committed():
        member_remove(actor=other_member, project_id=project.pk, user_id=member.pk)
    assert_error(member_client.get(events_url(task)), 404, "not_found")
    task_delete(actor=other_member, task_id=task.pk)

    assert_error(member_client.get(events_url(task.pk)), 404, "not_found")


@pytest.mark.parametrize(
    "task_id",
    [987654, 2**63 - 1, 2**63, 10**30, "9" * 5000],
    ids=["unused", "largest", "past-64-bits", "30-digits", "5000-digits"],
)
def test_an_id_that_never_was_a_task_is_404(manager_client, task, task_id):
    assert_error(manager_client.get(events_url(task_id)), 404, "not_found")


def test_the_history_of_a_deleted_task_is_paginated(member_client, member):
    task = TaskFactory(owner=member, title="t0")
    for n in range(1, 4):
        task_update(actor=member, task_id=task.pk, data={"title": f"t{n}"})
    task_delete(actor=member, task_id=task.pk)

    first = page(member_client.get(events_url(task.pk), {"limit": 2}))
    last = page(member_client.get(events_url(task.pk), {"limit": 2, "offset": 4}))

    assert first["count"] == 5
    assert [event["kind"] for event in first["results"]] == ["created", "updated"]
    assert first["next"] is not None
    assert [event["kind"] for event in last["results"]] == ["deleted"]
    assert last["next"] is None


def test_the_history_of_a_deleted_task_anonymously_is_401(api_client, member, task):
    task_id = deleted_after_a_change(task, member)

    assert_error(api_client.get(events_url(task_id)), 401, "not_authenticated")
