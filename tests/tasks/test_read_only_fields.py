"""A task's read-only fields (id, owner, created_at, updated_at, completed_at, version)
sent back as a GET wrote them change nothing; any other value is a 400 naming them,
and on a create, where there is nothing to echo, any value is."""

import pytest

from tasks.models import Task
from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, assert_error, assert_field_error, task_url
from tests.tasks.helpers import assert_task_unchanged

pytestmark = pytest.mark.django_db

READ_ONLY = ["This field is read-only."]
ECHOED = ["id", "owner", "created_at", "updated_at", "completed_at", "version"]


@pytest.fixture
def completed_task(member):
    # completed_at set, so that a datetime is echoed, not only null.
    return TaskFactory(owner=member, status=Task.Status.COMPLETED, title="Done")


def test_a_put_of_what_a_get_returned_with_a_new_title_succeeds(member_client, completed_task):
    body = member_client.get(task_url(completed_task)).json()
    assert body["completed_at"] is not None

    response = member_client.put(
        task_url(completed_task), {**body, "title": "Done well"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Done well"
    assert response.json()["version"] == body["version"] + 1
    assert response.json()["owner"] == body["owner"]


def test_a_put_of_what_a_get_returned_unchanged_changes_nothing(member_client, completed_task):
    before = Task.objects.get(pk=completed_task.pk)
    body = member_client.get(task_url(completed_task)).json()

    response = member_client.put(task_url(completed_task), body, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == body
    assert_task_unchanged(before)


@pytest.mark.parametrize("field", ECHOED)
def test_a_patch_echoing_a_read_only_field_unchanged_is_accepted(
    member_client, completed_task, field
):
    body = member_client.get(task_url(completed_task)).json()

    response = member_client.patch(
        task_url(completed_task), {field: body[field], "description": "Echoed"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Echoed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 424242),
        ("owner", "other"),
        ("created_at", "2000-01-01T00:00:00Z"),
        ("updated_at", "2000-01-01T00:00:00Z"),
        ("completed_at", None),
        ("version", 42),
    ],
)
def test_a_patch_with_another_value_of_a_read_only_field_is_refused_by_name(
    member_client, completed_task, other_member, field, value
):
    before = Task.objects.get(pk=completed_task.pk)
    value = other_member.pk if value == "other" else value

    response = member_client.patch(
        task_url(completed_task), {field: value, "description": "Sneaky"}, format="json"
    )

    error = assert_field_error(response, field)
    assert error["fields"] == {field: READ_ONLY}
    assert_task_unchanged(before)


def test_patch_owner_of_another_user_is_refused_not_ignored(member_client, task, other_member):
    before = Task.objects.get(pk=task.pk)

    response = member_client.patch(task_url(task), {"owner": other_member.pk}, format="json")

    assert assert_field_error(response, "owner")["fields"] == {"owner": READ_ONLY}
    assert_task_unchanged(before)


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", 1.0), ("version", True), ("owner", "{owner}"), ("id", None)],
    ids=["version-as-float", "version-as-bool", "owner-as-text", "id-null"],
)
def test_the_same_value_in_another_json_type_is_another_value(member_client, task, field, value):
    # The task is at version 1: 1.0 and true equal 1 in Python, not in JSON.
    value = str(task.owner_id) if value == "{owner}" else value

    response = member_client.patch(task_url(task), {field: value}, format="json")

    assert assert_field_error(response, field)["fields"] == {field: READ_ONLY}


def test_the_same_instant_written_another_way_is_another_value(member_client, task):
    # Compared with the text the API wrote, not parsed: echo what a GET returned.
    written = member_client.get(task_url(task)).json()["created_at"]
    assert written.endswith("Z")
    other_notation = written.removesuffix("Z") + "+00:00"

    response = member_client.patch(task_url(task), {"created_at": other_notation}, format="json")

    assert assert_field_error(response, "created_at")["fields"] == {"created_at": READ_ONLY}


def test_a_refused_read_only_field_comes_with_the_other_errors(member_client, task, other_member):
    response = member_client.patch(
        task_url(task), {"owner": other_member.pk, "priority": "urgent", "foo": 1}, format="json"
    )

    error = assert_field_error(response, "owner")
    assert set(error["fields"]) == {"owner", "priority", "foo"}
    assert error["fields"]["owner"] == READ_ONLY
    assert error["fields"]["foo"] == ["Unknown field."]


def test_an_echo_of_an_older_version_with_its_if_match_is_a_412(member_client, task):
    response = member_client.get(task_url(task))
    old_body, old_etag = response.json(), response["ETag"]
    assert (
        member_client.patch(task_url(task), {"title": "Moved on"}, format="json").status_code == 200
    )

    response = member_client.put(
        task_url(task), {**old_body, "title": "Stale"}, format="json", HTTP_IF_MATCH=old_etag
    )

    assert_error(response, 412, "precondition_failed")
    assert Task.objects.get(pk=task.pk).title == "Moved on"


def test_an_echo_of_an_older_version_without_if_match_names_what_moved_on(member_client, task):
    old_body = member_client.get(task_url(task)).json()
    assert (
        member_client.patch(task_url(task), {"title": "Moved on"}, format="json").status_code == 200
    )

    response = member_client.put(task_url(task), {**old_body, "title": "Stale"}, format="json")

    error = assert_field_error(response, "version")
    assert set(error["fields"]) == {"version", "updated_at"}
    assert Task.objects.get(pk=task.pk).title == "Moved on"


def test_a_manager_echoing_a_members_task_keeps_its_owner(manager_client, member, task):
    body = manager_client.get(task_url(task)).json()

    response = manager_client.put(task_url(task), {**body, "title": "Reviewed"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["owner"] == member.pk


@pytest.mark.parametrize("field", ECHOED)
def test_a_create_refuses_any_read_only_field(member_client, member, task, field):
    # Nothing to echo yet: even the values of an existing task (a copy) are refused.
    copied = member_client.get(task_url(task)).json()

    response = member_client.post(TASKS_URL, {"title": "Copy", field: copied[field]}, format="json")

    assert assert_field_error(response, field)["fields"] == {field: READ_ONLY}
    assert Task.objects.filter(owner=member).count() == 1
