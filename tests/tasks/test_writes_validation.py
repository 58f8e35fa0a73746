"""What a write may contain: 400 naming the field for bad input, read-only fields with
another value than the task's included (tests/tasks/test_read_only_fields.py)."""

import pytest

from accounts.services import user_set_active
from activity.models import Event
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import TASKS_URL, assert_field_error, task_url
from tests.tasks.helpers import assert_task_unchanged

pytestmark = pytest.mark.django_db

LONG_AGO = "2000-01-01T00:00:00Z"


@pytest.fixture
def inactive_user(member):
    """Ivan, a member of Mia's shared project, then deactivated: refused for being
    inactive, not for being outside the project."""
    user = UserFactory(username="ivan", email="ivan@example.com")
    shared_project(member, user)
    return user_set_active(user=user, is_active=False)


@pytest.fixture
def shared(member):
    """Mia's shared project (she is its admin)."""
    return shared_project(member)


def assert_nothing_created() -> None:
    assert not Task.objects.exists()
    assert not Event.objects.filter(type__startswith="task.").exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "\t\n "},
        {"title": None},
        {"title": "x" * 201},
        {"title": "  " + "x" * 201 + "  "},
    ],
    ids=["missing", "empty", "spaces", "whitespace", "null", "201-chars", "201-chars-padded"],
)
def test_create_without_a_usable_title_is_400_naming_title(member_client, data):
    response = member_client.post(TASKS_URL, {"description": "no title", **data}, format="json")

    assert_field_error(response, "title")
    assert_nothing_created()


def test_title_of_exactly_200_characters_is_accepted(member_client):
    response = member_client.post(TASKS_URL, {"title": "x" * 200}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "x" * 200


def test_title_with_surrounding_spaces_within_200_characters_is_trimmed_and_accepted(
    member_client,
):
    response = member_client.post(TASKS_URL, {"title": "  " + "y" * 196 + "  "}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "y" * 196


MAX_LENGTH_MESSAGE = "Ensure this field has no more than 200 characters."


@pytest.mark.parametrize(
    "title",
    ["x" + " " * 250, "  " + "y" * 200 + "  ", "\u3000" * 200 + "z"],
    ids=["x-and-250-spaces", "200-chars-padded", "ideographic-spaces"],
)
def test_title_longer_than_200_characters_as_sent_is_400_though_trimming_shortens_it(
    member_client, title
):
    # The schema's maxLength counts what is sent; DRF counted what trimming left.
    response = member_client.post(TASKS_URL, {"title": title}, format="json")

    error = assert_field_error(response, "title")
    assert error["fields"] == {"title": [MAX_LENGTH_MESSAGE]}
    assert_nothing_created()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_a_title_longer_than_200_as_sent_is_400_and_changes_nothing(
    member_client, task, method
):
    before = Task.objects.get(pk=task.pk)

    response = getattr(member_client, method)(
        task_url(task), {"title": "x" + " " * 250}, format="json"
    )

    error = assert_field_error(response, "title")
    assert error["fields"] == {"title": [MAX_LENGTH_MESSAGE]}
    assert_task_unchanged(before)


def test_a_title_too_long_as_sent_is_named_with_every_other_invalid_field(member_client):
    response = member_client.post(
        TASKS_URL, {"title": "x" + " " * 250, "priority": "urgent", "foo": 1}, format="json"
    )

    error = assert_field_error(response, "title")
    assert set(error["fields"]) == {"title", "priority", "foo"}
    assert_nothing_created()


def test_title_of_one_character_is_accepted(member_client):
    response = member_client.post(TASKS_URL, {"title": " z "}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "z"


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, None])
def test_patch_with_an_unusable_title_is_400_naming_title_and_changes_nothing(
    member_client, task, title
):
    before = Task.objects.get(pk=task.pk)

    response = member_client.patch(task_url(task), {"title": title}, format="json")

    assert_field_error(response, "title")
    assert_task_unchanged(before)


def test_patch_trims_the_title(member_client, task):
    response = member_client.patch(task_url(task), {"title": "  Trimmed  "}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Trimmed"


def test_put_without_a_title_is_400_naming_title_and_changes_nothing(member_client, task):
    before = Task.objects.get(pk=task.pk)

    response = member_client.put(task_url(task), {"description": "no title"}, format="json")

    assert_field_error(response, "title")
    assert_task_unchanged(before)


def test_assignee_that_is_an_inactive_user_is_400_naming_assignee(
    member_client, inactive_user, shared
):
    response = member_client.post(
        TASKS_URL,
        {"title": "For Ivan", "assignee": inactive_user.pk, "project": shared.pk},
        format="json",
    )

    assert_field_error(response, "assignee")
    assert_nothing_created()


@pytest.mark.parametrize("assignee", [999999, "abc", -1])
def test_assignee_that_is_no_user_is_400_naming_assignee(member_client, assignee):
    response = member_client.post(
        TASKS_URL, {"title": "For nobody", "assignee": assignee}, format="json"
    )

    assert_field_error(response, "assignee")
    assert_nothing_created()


@pytest.mark.parametrize("number", ["2.9", "1e400", "-1e400", "2.0"])
def test_assignee_that_is_not_a_whole_number_is_400_naming_assignee(member_client, number):
    # Raw JSON: 2.9 would be truncated to user 2, 1e400 is infinity (no id at all).
    UserFactory.create_batch(3)
    body = '{"title": "For a number", "assignee": ' + number + "}"

    response = member_client.post(TASKS_URL, body, content_type="application/json")

    assert_field_error(response, "assignee")
    assert_nothing_created()


def test_patching_the_assignee_to_an_inactive_user_is_400_and_changes_nothing(
    member_client, member, inactive_user, shared
):
    task = TaskFactory(owner=member, project=shared)
    before = Task.objects.get(pk=task.pk)

    response = member_client.patch(task_url(task), {"assignee": inactive_user.pk}, format="json")

    assert_field_error(response, "assignee")
    assert_task_unchanged(before)


@pytest.mark.parametrize("role", ["member", "admin"])
def test_assignee_may_be_a_member_of_the_project_who_writes(member, member_client, role):
    otto = UserFactory(username="otto", email="otto@example.com")
    project = shared_project(member, otto, role=role)

    response = member_client.post(
        TASKS_URL,
        {"title": "For Otto", "assignee": otto.pk, "project": project.pk},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["assignee"] == otto.pk
    assert response.json()["project"] == project.pk


def test_assignee_outside_the_project_is_400_naming_assignee(member_client, manager):
    # The manager is an active user, but no member of Mia's personal project.
    response = member_client.post(
        TASKS_URL, {"title": "For the manager", "assignee": manager.pk}, format="json"
    )

    assert_field_error(response, "assignee")
    assert_nothing_created()


def test_assignee_who_only_views_the_project_is_400_naming_assignee(member, member_client):
    viola = UserFactory(username="viola", email="viola@example.com")
    project = shared_project(member, viola, role="viewer")

    response = member_client.post(
        TASKS_URL,
        {"title": "For Viola", "assignee": viola.pk, "project": project.pk},
        format="json",
    )

    assert_field_error(response, "assignee")
    assert_nothing_created()


def test_patching_the_assignee_to_someone_outside_the_project_is_400_and_changes_nothing(
    member_client, task, other_member
):
    before = Task.objects.get(pk=task.pk)

    response = member_client.patch(task_url(task), {"assignee": other_member.pk}, format="json")

    assert_field_error(response, "assignee")
    assert_task_unchanged(before)


def test_unknown_field_is_400_naming_it(member_client):
    response = member_client.post(TASKS_URL, {"title": "Paint", "colour": "red"}, format="json")

    error = assert_field_error(response, "colour")
    assert "title" not in error["fields"]
    assert_nothing_created()


def test_every_unknown_field_is_named(member_client):
    response = member_client.post(
        TASKS_URL, {"title": "Paint", "colour": "red", "size": 3}, format="json"
    )

    error = assert_field_error(response, "colour")
    assert "size" in error["fields"]
    assert_nothing_created()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_unknown_field_in_an_update_is_400_naming_it_and_changes_nothing(
    member_client, task, method
):
    before = Task.objects.get(pk=task.pk)

    response = getattr(member_client, method)(
        task_url(task), {"title": "Paint", "colour": "red"}, format="json"
    )

    assert_field_error(response, "colour")
    assert_task_unchanged(before)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", "urgent"),
        ("priority", "HIGH"),
        ("priority", ""),
        ("status", "done"),
        ("status", "Completed"),
        ("status", None),
    ],
)
def test_bad_choice_on_create_is_400_naming_the_field(member_client, field, value):
    response = member_client.post(TASKS_URL, {"title": "Choice", field: value}, format="json")

    assert_field_error(response, field)
    assert_nothing_created()


@pytest.mark.parametrize(("field", "value"), [("priority", "urgent"), ("status", "done")])
def test_bad_choice_on_patch_is_400_naming_the_field_and_changes_nothing(
    member_client, task, field, value
):
    before = Task.objects.get(pk=task.pk)

    response = member_client.patch(task_url(task), {field: value}, format="json")

    assert_field_error(response, field)
    assert_task_unchanged(before)


def test_due_date_that_is_not_a_datetime_is_400_naming_due_date(member_client):
    response = member_client.post(
        TASKS_URL, {"title": "When?", "due_date": "notadate"}, format="json"
    )

    assert_field_error(response, "due_date")
    assert_nothing_created()


def test_several_bad_fields_are_all_named(member_client):
    response = member_client.post(
        TASKS_URL, {"title": " ", "priority": "urgent", "status": "done"}, format="json"
    )

    error = assert_field_error(response, "title")
    assert {"priority", "status"} <= set(error["fields"])


def test_read_only_fields_sent_on_create_are_refused_by_name(member_client, other_member):
    data = {
        "title": "Sneaky",
        "id": 424242,
        "owner": other_member.pk,
        "version": 9,
        "created_at": LONG_AGO,
        "updated_at": LONG_AGO,
        "completed_at": LONG_AGO,
    }

    response = member_client.post(TASKS_URL, data, format="json")

    error = assert_field_error(response, "owner")
    read_only = ["This field is read-only."]
    assert error["fields"] == {name: read_only for name in data if name != "title"}
    assert_nothing_created()


@pytest.mark.parametrize("field", ["id", "owner", "version", "created_at", "updated_at"])
def test_a_read_only_field_alone_in_a_patch_with_another_value_is_refused(
    member_client, task, other_member, field
):
    value = {
        "id": task.pk + 1000,
        "owner": other_member.pk,
        "version": 42,
        "created_at": LONG_AGO,
        "updated_at": LONG_AGO,
    }[field]
    before = Task.objects.get(pk=task.pk)

    response = member_client.patch(task_url(task), {field: value}, format="json")

    error = assert_field_error(response, field)
    assert error["fields"] == {field: ["This field is read-only."]}
    assert_task_unchanged(before)


def test_read_only_fields_next_to_a_real_change_in_a_patch_refuse_the_change(
    member_client, other_member, task
):
    before = Task.objects.get(pk=task.pk)
    data = {
        "title": "Real change",
        "id": task.pk + 1000,
        "owner": other_member.pk,
        "version": 42,
        "created_at": LONG_AGO,
        "completed_at": LONG_AGO,
    }

    response = member_client.patch(task_url(task), data, format="json")

    error = assert_field_error(response, "owner")
    assert set(error["fields"]) == {"id", "owner", "version", "created_at", "completed_at"}
    assert_task_unchanged(before)
    assert not Task.objects.filter(pk=task.pk + 1000).exists()


def test_read_only_fields_with_other_values_in_a_put_are_refused(member_client, other_member, task):
    before = Task.objects.get(pk=task.pk)

    response = member_client.put(
        task_url(task),
        {"title": "Put", "owner": other_member.pk, "version": 42, "completed_at": LONG_AGO},
        format="json",
    )

    error = assert_field_error(response, "owner")
    assert set(error["fields"]) == {"owner", "version", "completed_at"}
    assert_task_unchanged(before)


def test_manager_cannot_take_over_a_task_by_sending_owner(manager_client, manager, member):
    task = TaskFactory(owner=member)

    response = manager_client.patch(task_url(task), {"owner": manager.pk}, format="json")

    assert assert_field_error(response, "owner")["fields"] == {
        "owner": ["This field is read-only."]
    }
    task.refresh_from_db()
    assert task.owner_id == member.pk
