"""Task events: tasks/{id}/events/ per task and the tasks/events/?after=N feed."""

import pytest

from activity.models import Event
from projects.services import member_remove
from tasks.models import Task
from tasks.services import task_delete, task_update
from tests.factories import TaskFactory, shared_project
from tests.helpers import (
    EVENT_SHAPE,
    FEED_URL,
    TASKS_URL,
    assert_error,
    assert_field_error,
    page,
    parse_dt,
    task_url,
)
from tests.tasks.helpers import events_url, iso

pytestmark = pytest.mark.django_db


def events(client, task_or_id):
    body = page(client.get(events_url(task_or_id), {"limit": 100}))
    for event in body["results"]:
        assert set(event) == EVENT_SHAPE, event
    return body["results"]


def feed(client, **params):
    body = page(client.get(FEED_URL, {"limit": 100, **params}))
    for event in body["results"]:
        assert set(event) == EVENT_SHAPE, event
    return body["results"]


def feed_ids(client, **params):
    return [event["id"] for event in feed(client, **params)]


def event_ids_of(*tasks, kind=None):
    """Ids of the stored events of these tasks (oldest first)."""
    queryset = Event.objects.filter(
        type__startswith="task.", subject_id__in=[getattr(t, "pk", t) for t in tasks]
    )
    if kind:
        queryset = queryset.filter(type=f"task.{kind}")
    return list(queryset.order_by("id").values_list("id", flat=True))


# --- tasks/{id}/events/ -----------------------------------------------------------------


def test_create_records_a_created_event_mapping_each_set_field_from_null(
    member_client, member, other_member, future, committed
):
    data = {
        "title": "Plan the trip",
        "description": "Trains and hotels",
        "priority": "high",
        "due_date": iso(future),
        "assignee": other_member.pk,
        "project": shared_project(member, other_member).pk,
    }
    with committed():
        created = member_client.post(TASKS_URL, data, format="json")
    assert created.status_code == 201, created.content

    (event,) = events(member_client, created.json()["id"])

    assert event["kind"] == "created"
    assert event["task"] == created.json()["id"]
    assert event["actor"] == member.pk
    assert parse_dt(event["at"]) is not None
    changes = event["changes"]
    assert changes["title"] == [None, "Plan the trip"]
    assert changes["description"] == [None, "Trains and hotels"]
    assert changes["priority"] == [None, "high"]
    assert changes["assignee"] == [None, other_member.pk]
    assert changes["project"] == [None, data["project"]]
    old, new = changes["due_date"]
    assert old is None
    assert isinstance(new, str)
    assert parse_dt(new) == future
    for field, change in changes.items():
        assert isinstance(change, list), field
        assert len(change) == 2, field
        assert change[0] is None, field


def test_update_records_only_the_changed_fields_with_old_and_new_values(
    member_client, manager_client, member, manager, committed
):
    task = TaskFactory(owner=member, title="Old title", description="Same", priority="medium")

    with committed():
        response = manager_client.patch(
            task_url(task),
            {"title": "New title", "description": "Same", "priority": "high"},
            format="json",
        )
    assert response.status_code == 200, response.content

    created, updated = events(member_client, task)
    assert created["kind"] == "created"
    assert updated["kind"] == "updated"
    assert updated["task"] == task.pk
    assert updated["actor"] == manager.pk
    assert updated["changes"] == {
        "title": ["Old title", "New title"],
        "priority": ["medium", "high"],
    }


def test_update_records_users_as_ids_and_datetimes_as_iso_strings(
    member_client, member, other_member, manager, past, future, committed
):
    task = TaskFactory(owner=member, assignee=other_member, due_date=past)
    shared_project(member, manager)

    with committed():
        response = member_client.patch(
            task_url(task), {"assignee": manager.pk, "due_date": iso(future)}, format="json"
        )
    assert response.status_code == 200, response.content

    updated = events(member_client, task)[-1]
    assert updated["kind"] == "updated"
    assert set(updated["changes"]) == {"assignee", "due_date"}
    assert updated["changes"]["assignee"] == [other_member.pk, manager.pk]
    old, new = updated["changes"]["due_date"]
    assert isinstance(old, str)
    assert isinstance(new, str)
    assert parse_dt(old) == past
    assert parse_dt(new) == future


def test_clearing_fields_records_null_as_the_new_value(
    member_client, member, other_member, future, committed
):
    task = TaskFactory(owner=member, assignee=other_member, due_date=future)

    with committed():
        response = member_client.patch(
            task_url(task), {"assignee": None, "due_date": None}, format="json"
        )
    assert response.status_code == 200, response.content

    changes = events(member_client, task)[-1]["changes"]
    assert changes["assignee"] == [other_member.pk, None]
    assert parse_dt(changes["due_date"][0]) == future
    assert changes["due_date"][1] is None


def test_completing_records_the_status_change(member_client, member, committed):
    task = TaskFactory(owner=member, status="in_progress")

    with committed():
        response = member_client.patch(task_url(task), {"status": "completed"}, format="json")
    assert response.status_code == 200, response.content

    updated = events(member_client, task)[-1]
    assert updated["kind"] == "updated"
    assert updated["changes"]["status"] == ["in_progress", "completed"]
    assert "title" not in updated["changes"]


def test_task_events_are_listed_oldest_first(member_client, member, committed):
    task = TaskFactory(owner=member, title="one")
    with committed():
        assert member_client.patch(task_url(task), {"title": "two"}).status_code == 200
        assert member_client.patch(task_url(task), {"title": "three"}).status_code == 200

    listed = events(member_client, task)

    assert [event["kind"] for event in listed] == ["created", "updated", "updated"]
    assert [event["id"] for event in listed] == sorted(event["id"] for event in listed)
    assert [event["changes"]["title"] for event in listed[1:]] == [
        ["one", "two"],
        ["two", "three"],
    ]
    times = [parse_dt(event["at"]) for event in listed]
    assert times == sorted(times)


def test_task_events_are_paginated(member_client, member):
    task = TaskFactory(owner=member, title="t0")
    for n in range(1, 4):
        task_update(actor=member, task_id=task.pk, data={"title": f"t{n}"})

    body = page(member_client.get(events_url(task), {"limit": 2}))

    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"] is not None
    assert [event["kind"] for event in body["results"]] == ["created", "updated"]


def test_task_events_hold_only_that_tasks_events(member_client, member):
    task = TaskFactory(owner=member)
    other = TaskFactory(owner=member)
    task_update(actor=member, task_id=other.pk, data={"title": "elsewhere"})

    listed = events(member_client, task)

    assert [event["task"] for event in listed] == [task.pk]


def test_project_member_and_manager_read_a_tasks_events(
    member_client, manager_client, assigned_task
):
    assert [event["kind"] for event in events(member_client, assigned_task)] == ["created"]
    assert [event["kind"] for event in events(manager_client, assigned_task)] == ["created"]


def test_someone_outside_the_project_reading_a_tasks_events_gets_404(other_member_client, task):
    assert_error(other_member_client.get(events_url(task)), 404, "not_found")


def test_delete_records_a_deleted_event_kept_after_the_task_is_gone(
    member_client, member, committed
):
    task = TaskFactory(owner=member)
    task_id = task.pk

    with committed():
        assert member_client.delete(task_url(task)).status_code == 204

    assert not Task.objects.filter(pk=task_id).exists()
    deleted = [event for event in feed(member_client) if event["kind"] == "deleted"]
    assert len(deleted) == 1
    assert deleted[0]["task"] == task_id
    assert deleted[0]["actor"] == member.pk
    assert Event.objects.filter(subject_id=task_id, type="task.deleted").count() == 1
    assert Event.objects.filter(subject_id=task_id, type="task.created").count() == 1


# --- tasks/events/?after=N --------------------------------------------------------------


def test_feed_without_after_starts_from_the_beginning_oldest_first(
    member_client, member, task, assigned_task
):
    task_update(actor=member, task_id=task.pk, data={"title": "renamed"})

    listed = feed(member_client)

    assert [event["id"] for event in listed] == event_ids_of(task, assigned_task)
    assert [(event["task"], event["kind"]) for event in listed] == [
        (task.pk, "created"),
        (assigned_task.pk, "created"),
        (task.pk, "updated"),
    ]


def test_feed_after_n_holds_only_events_with_a_greater_id(member_client, member, task, committed):
    first = feed_ids(member_client)
    assert len(first) == 1
    with committed():
        assert member_client.patch(task_url(task), {"title": "later"}).status_code == 200
        assert member_client.patch(task_url(task), {"title": "later still"}).status_code == 200

    listed = feed(member_client, after=first[-1])

    assert [event["kind"] for event in listed] == ["updated", "updated"]
    assert all(event["id"] > first[-1] for event in listed)
    assert feed(member_client, after=listed[-1]["id"]) == []


def test_feed_after_zero_equals_the_feed_without_after(member_client, task, assigned_task):
    assert feed_ids(member_client, after=0) == feed_ids(member_client)


def test_feed_leaves_out_events_of_another_members_tasks(
    member_client, other_member, task, others_task
):
    task_update(actor=other_member, task_id=others_task.pk, data={"title": "still private"})
    task_delete(actor=other_member, task_id=TaskFactory(owner=other_member).pk)

    listed = feed(member_client)

    assert {event["task"] for event in listed} == {task.pk}
    assert feed_ids(member_client) == event_ids_of(task)


def test_feed_includes_events_of_tasks_in_the_users_projects(
    member_client, task, assigned_task, others_task
):
    assert set(feed_ids(member_client)) == set(event_ids_of(task, assigned_task))


def test_other_member_feed_holds_only_the_tasks_of_his_projects(
    other_member_client, task, assigned_task, others_task
):
    assert feed_ids(other_member_client) == event_ids_of(assigned_task, others_task)


@pytest.mark.parametrize("client_name", ["manager_client", "admin_client"])
def test_manager_and_admin_feed_holds_every_event(
    request, client_name, member, task, assigned_task, others_task
):
    client = request.getfixturevalue(client_name)
    task_id = task.pk
    task_delete(actor=member, task_id=task.pk)

    assert feed_ids(client) == event_ids_of(task_id, assigned_task, others_task)
    assert "deleted" in {event["kind"] for event in feed(client)}


def test_feed_includes_deleted_events_of_the_users_own_tasks(member_client, member, task):
    task_id = task.pk
    task_delete(actor=member, task_id=task.pk)

    listed = feed(member_client)

    assert [(event["task"], event["kind"]) for event in listed] == [
        (task_id, "created"),
        (task_id, "deleted"),
    ]


def test_feed_holds_every_event_of_a_project_the_user_belongs_to_whoever_is_assigned(
    member_client, other_member_client, member, other_member, committed
):
    project = shared_project(other_member, member)
    task = TaskFactory(owner=other_member, title="before", project=project)
    with committed():
        for data in (
            {"title": "still before"},
            {"assignee": member.pk},
            {"title": "while assigned"},
            {"assignee": None},
            {"title": "after"},
        ):
            response = other_member_client.patch(task_url(task), data, format="json")
            assert response.status_code == 200, response.content

    assert feed_ids(member_client) == event_ids_of(task)


def test_feed_leaves_out_every_event_of_a_project_the_user_left(
    member_client, member, other_member, committed
):
    project = shared_project(other_member, member)
    task = TaskFactory(owner=other_member, assignee=member, project=project)
    task_update(actor=other_member, task_id=task.pk, data={"title": "while a member"})
    assert feed_ids(member_client) == event_ids_of(task)

    with committed():
        member_remove(actor=other_member, project_id=project.pk, user_id=member.pk)
    task_update(actor=other_member, task_id=task.pk, data={"title": "after she left"})

    # Members as they are when the feed is read: her old events went with her.
    assert feed_ids(member_client) == []
    assert_error(member_client.get(events_url(task)), 404, "not_found")


def test_feed_is_paginated(member_client, member):
    task = TaskFactory(owner=member, title="t0")
    for n in range(1, 5):
        task_update(actor=member, task_id=task.pk, data={"title": f"t{n}"})

    body = page(member_client.get(FEED_URL, {"limit": 2}))

    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] is not None
    assert [event["kind"] for event in body["results"]] == ["created", "updated"]


@pytest.mark.parametrize("after", ["abc", "-1", "1.5"])
def test_feed_after_that_is_not_a_non_negative_whole_number_is_400_naming_after(
    member_client, task, after
):
    assert_field_error(member_client.get(FEED_URL, {"after": after}), "after")


def test_anonymous_feed_is_401(api_client, task):
    assert_error(api_client.get(FEED_URL), 401, "not_authenticated")
