"""Create, read, replace, patch and delete a task through /api/v1/tasks/."""

from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest

from projects.models import Project
from tasks.models import Task
from tests.factories import TaskFactory, shared_project
from tests.helpers import TASK_SHAPE, TASKS_URL, assert_error, page, parse_dt, task_url
from tests.tasks.helpers import iso

pytestmark = pytest.mark.django_db

# Version 2: every task names its project.
TASK_FIELDS = TASK_SHAPE | {"project", "labels", "parent", "position", "subtasks", "blocked"}


def test_member_creates_a_task_with_defaults_owned_by_them(member_client, member):
    response = member_client.post(TASKS_URL, {"title": "Buy milk"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == TASK_FIELDS
    assert body["title"] == "Buy milk"
    assert body["description"] == ""
    assert body["priority"] == "medium"
    assert body["status"] == "pending"
    assert body["due_date"] is None
    assert body["owner"] == member.pk
    assert body["assignee"] is None
    assert body["project"] == Project.objects.get(personal_owner=member).pk
    assert body["completed_at"] is None
    assert body["version"] == 1
    assert parse_dt(body["created_at"]) is not None
    assert parse_dt(body["updated_at"]) is not None
    assert response["ETag"]
    task = Task.objects.get(pk=body["id"])
    assert task.owner_id == member.pk
    assert task.title == "Buy milk"
    assert task.version == 1


def test_create_stores_every_given_field(member_client, member, other_member, future):
    project = shared_project(member, other_member)
    data = {
        "title": "Plan the offsite",
        "description": "Venue, food, agenda",
        "priority": "high",
        "status": "in_progress",
        "due_date": iso(future),
        "assignee": other_member.pk,
        "project": project.pk,
    }

    response = member_client.post(TASKS_URL, data, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == "Plan the offsite"
    assert body["description"] == "Venue, food, agenda"
    assert body["priority"] == "high"
    assert body["status"] == "in_progress"
    assert parse_dt(body["due_date"]) == future
    assert body["assignee"] == other_member.pk
    assert body["project"] == project.pk
    assert body["owner"] == member.pk
    task = Task.objects.get(pk=body["id"])
    assert task.due_date == future
    assert task.assignee_id == other_member.pk
    assert task.project_id == project.pk
    assert task.priority == "high"


def test_create_with_status_completed_sets_completed_at(member_client):
    response = member_client.post(TASKS_URL, {"title": "Done", "status": "completed"})

    assert response.status_code == 201, response.content
    assert parse_dt(response.json()["completed_at"]) is not None


def test_create_trims_the_title(member_client):
    response = member_client.post(TASKS_URL, {"title": "   Buy milk \t "}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Buy milk"
    assert Task.objects.get(pk=response.json()["id"]).title == "Buy milk"


def test_list_is_paginated_newest_first(member_client, member):
    first = TaskFactory(owner=member, title="first")
    second = TaskFactory(owner=member, title="second")
    third = TaskFactory(owner=member, title="third")

    body = page(member_client.get(TASKS_URL))

    assert body["count"] == 3
    assert body["previous"] is None
    assert body["next"] is None
    assert [item["id"] for item in body["results"]] == [third.pk, second.pk, first.pk]
    for item in body["results"]:
        assert set(item) == TASK_FIELDS


def test_list_pages_follow_limit_and_offset(member_client, member):
    tasks = [TaskFactory(owner=member, title=f"t{n}") for n in range(5)]

    first = page(member_client.get(TASKS_URL, {"limit": 2}))
    second = page(member_client.get(TASKS_URL, {"limit": 2, "offset": 2}))

    assert first["count"] == 5
    assert [item["id"] for item in first["results"]] == [tasks[4].pk, tasks[3].pk]
    assert [item["id"] for item in second["results"]] == [tasks[2].pk, tasks[1].pk]
    assert first["next"] is not None
    assert second["previous"] is not None


def test_owner_reads_a_task_with_every_field(member_client, member, other_member, future):
    task = TaskFactory(
        owner=member,
        title="Read me",
        description="All of it",
        priority="low",
        due_date=future,
        assignee=other_member,
    )

    response = member_client.get(task_url(task))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TASK_FIELDS
    assert body["id"] == task.pk
    assert body["title"] == "Read me"
    assert body["description"] == "All of it"
    assert body["priority"] == "low"
    assert body["status"] == "pending"
    assert parse_dt(body["due_date"]) == future
    assert body["owner"] == member.pk
    assert body["assignee"] == other_member.pk
    assert body["project"] == task.project_id
    assert body["version"] == 1
    assert parse_dt(body["created_at"]) == task.created_at
    assert response["ETag"]


def test_unknown_task_id_is_404(member_client):
    assert_error(member_client.get(task_url(999999)), 404, "not_found")


@pytest.mark.parametrize("bad_id", ["abc", "1x", "-1"])
def test_non_numeric_task_id_is_404(member_client, bad_id):
    assert_error(member_client.get(f"{TASKS_URL}{bad_id}/"), 404, "not_found")


@pytest.mark.parametrize("zero", ["\u0660", "\uff10"], ids=["arabic-indic", "fullwidth"])
@pytest.mark.parametrize("suffix", ["", "events/"])
def test_a_task_id_in_other_scripts_digits_is_404_not_an_alias(member_client, task, zero, suffix):
    # Python's \d matches every script's digits and int() reads them, so the id
    # U+0661 (ARABIC-INDIC DIGIT ONE) used to answer task 1 at a second URL.
    alias = "".join(chr(ord(zero) + int(digit)) for digit in str(task.pk))

    assert_error(member_client.get(f"{TASKS_URL}{alias}/{suffix}"), 404, "not_found")


def test_put_replaces_the_task_and_resets_omitted_fields_to_defaults(
    member_client, member, other_member, future
):
    task = TaskFactory(
        owner=member,
        title="Old",
        description="Old text",
        priority="high",
        status="in_progress",
        due_date=future,
        assignee=other_member,
    )

    response = member_client.put(task_url(task), {"title": "New"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "New"
    assert body["description"] == ""
    assert body["priority"] == "medium"
    assert body["status"] == "pending"
    assert body["due_date"] is None
    assert body["assignee"] is None
    assert body["owner"] == member.pk
    assert body["version"] == 2
    task.refresh_from_db()
    assert (task.title, task.description, task.priority, task.status) == (
        "New",
        "",
        "medium",
        "pending",
    )
    assert task.due_date is None
    assert task.assignee_id is None
    assert task.version == 2


def test_put_with_every_field_stores_them(member_client, member, other_member, future):
    project = shared_project(member, other_member)
    task = TaskFactory(owner=member, title="Old", project=project)
    data = {
        "title": "Replaced",
        "description": "New text",
        "priority": "low",
        "status": "in_progress",
        "due_date": iso(future),
        "assignee": other_member.pk,
        "project": project.pk,
    }

    response = member_client.put(task_url(task), data, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert {key: body[key] for key in ("title", "description", "priority", "status")} == {
        "title": "Replaced",
        "description": "New text",
        "priority": "low",
        "status": "in_progress",
    }
    assert parse_dt(body["due_date"]) == future
    assert body["assignee"] == other_member.pk
    task.refresh_from_db()
    assert task.assignee_id == other_member.pk
    assert task.due_date == future


def test_patch_changes_only_the_sent_fields(member_client, member, other_member, future):
    task = TaskFactory(
        owner=member,
        title="Keep",
        description="Keep this too",
        priority="high",
        due_date=future,
        assignee=other_member,
    )

    response = member_client.patch(task_url(task), {"status": "in_progress"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["title"] == "Keep"
    assert body["description"] == "Keep this too"
    assert body["priority"] == "high"
    assert parse_dt(body["due_date"]) == future
    assert body["assignee"] == other_member.pk
    assert body["version"] == 2
    task.refresh_from_db()
    assert task.status == "in_progress"
    assert task.priority == "high"
    assert task.assignee_id == other_member.pk


def test_patch_with_explicit_null_clears_due_date_and_assignee(
    member_client, member, other_member, future
):
    task = TaskFactory(owner=member, due_date=future, assignee=other_member)

    response = member_client.patch(
        task_url(task), {"due_date": None, "assignee": None}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["due_date"] is None
    assert response.json()["assignee"] is None
    task.refresh_from_db()
    assert task.due_date is None
    assert task.assignee_id is None


def test_every_real_change_increments_the_version_and_moves_updated_at(member_client, member):
    task = TaskFactory(owner=member, title="v1")
    created = member_client.get(task_url(task)).json()

    first = member_client.patch(task_url(task), {"title": "v2"}, format="json")
    second = member_client.put(task_url(task), {"title": "v3"}, format="json")

    assert first.status_code == 200, first.content
    assert second.status_code == 200, second.content
    assert first.json()["version"] == 2
    assert second.json()["version"] == 3
    assert parse_dt(first.json()["updated_at"]) > parse_dt(created["updated_at"])
    assert parse_dt(second.json()["updated_at"]) > parse_dt(first.json()["updated_at"])
    assert first.json()["created_at"] == created["created_at"]
    task.refresh_from_db()
    assert task.version == 3
    assert task.title == "v3"


def test_patch_that_changes_nothing_keeps_the_version(member_client, member):
    task = TaskFactory(owner=member, title="Same", priority="high")

    response = member_client.patch(
        task_url(task), {"title": "Same", "priority": "high"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 1
    task.refresh_from_db()
    assert task.version == 1


def test_empty_patch_keeps_the_version(member_client, member):
    task = TaskFactory(owner=member)

    response = member_client.patch(task_url(task), {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 1
    task.refresh_from_db()
    assert task.version == 1


def test_completing_a_task_sets_completed_at(member_client, member):
    task = TaskFactory(owner=member, status="in_progress")

    response = member_client.patch(task_url(task), {"status": "completed"}, format="json")

    assert response.status_code == 200, response.content
    completed_at = parse_dt(response.json()["completed_at"])
    assert completed_at is not None
    assert completed_at >= task.created_at
    task.refresh_from_db()
    assert task.completed_at == completed_at


def test_leaving_completed_clears_completed_at(member_client, member):
    task = TaskFactory(owner=member, status="completed")
    task.refresh_from_db()
    assert task.completed_at is not None

    response = member_client.patch(task_url(task), {"status": "in_progress"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["completed_at"] is None
    task.refresh_from_db()
    assert task.completed_at is None
    assert task.status == "in_progress"


def test_changing_other_fields_of_a_completed_task_keeps_completed_at(member_client, member):
    task = TaskFactory(owner=member, status="completed")
    task.refresh_from_db()

    response = member_client.patch(task_url(task), {"title": "Renamed"}, format="json")

    assert response.status_code == 200, response.content
    assert parse_dt(response.json()["completed_at"]) == task.completed_at


def test_put_without_status_reopens_a_completed_task(member_client, member):
    task = TaskFactory(owner=member, status="completed")

    response = member_client.put(task_url(task), {"title": "Again"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending"
    assert response.json()["completed_at"] is None


def test_owner_deletes_a_task(member_client, member):
    task = TaskFactory(owner=member)

    response = member_client.delete(task_url(task))

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not Task.objects.filter(pk=task.pk).exists()
    assert_error(member_client.get(task_url(task)), 404, "not_found")


def test_deleting_a_deleted_task_is_404(member_client, member):
    task = TaskFactory(owner=member)
    assert member_client.delete(task_url(task)).status_code == 204

    assert_error(member_client.delete(task_url(task)), 404, "not_found")


def test_due_date_round_trips_with_its_offset_normalised(member_client, now):
    due = (now + timedelta(days=3)).replace(microsecond=0)
    local = due.astimezone(dt_timezone(timedelta(hours=5, minutes=30)))

    response = member_client.post(
        TASKS_URL, {"title": "Offset", "due_date": local.isoformat()}, format="json"
    )

    assert response.status_code == 201, response.content
    assert parse_dt(response.json()["due_date"]) == due
    assert Task.objects.get(pk=response.json()["id"]).due_date == due
