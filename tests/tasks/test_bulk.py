"""Bulk changes: POST tasks/bulk/ changes up to 100 tasks and tasks/bulk-delete/ deletes
them, all or nothing (a 400 naming each failing id under `fields`), one event per
changed task, counted as one write plus each task against the `bulk_tasks` rate."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from activity.models import Event
from projects.models import Label, Project
from projects.services import label_create
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.helpers import TokenClient, assert_error, assert_field_error, parse_dt
from tests.projects.helpers import archive, new_project

pytestmark = pytest.mark.django_db

BULK_URL = "/api/v1/tasks/bulk/"
BULK_DELETE_URL = "/api/v1/tasks/bulk-delete/"
NOT_VISIBLE = "No task with this id that you can see."
NOT_YOURS = "You may not make this change to this task."
NOT_WRITER = "The assignee must be a member of the project who may write."


def bulk(client: Any, ids: list[int], **body: Any) -> Any:
    return client.post(BULK_URL, {"ids": ids, **body}, format="json")


def bulk_delete(client: Any, ids: list[int]) -> Any:
    return client.post(BULK_DELETE_URL, {"ids": ids}, format="json")


def ids_of(*tasks: Task) -> list[int]:
    return [task.pk for task in tasks]


def last_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_since(since: int) -> list[Event]:
    return list(Event.objects.filter(id__gt=since).order_by("id"))


def rows(*tasks: Task) -> dict[int, tuple[Any, ...]]:
    """What a refused bulk must leave as it was."""
    return {
        pk: rest
        for pk, *rest in Task.objects.filter(pk__in=ids_of(*tasks)).values_list(
            "pk",
            "version",
            "status",
            "priority",
            "assignee_id",
            "due_date",
            "project_id",
            "position",
            "label_ids",
            "completed_at",
            "updated_at",
        )
    } | {
        -task.pk: tuple(
            sorted(Task.labels.through.objects.filter(task_id=task.pk).values_list("label_id"))
        )
        for task in tasks
    }


def assert_bulk_refused(response: Any, failing: dict[int, list[str]]) -> None:
    """A 400 naming exactly these ids, with these messages."""
    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {str(pk): messages for pk, messages in failing.items()}, error


@pytest.fixture
def viewer(db: None) -> User:
    return UserFactory(username="vera", email="vera@example.com")


@pytest.fixture
def outsider(db: None) -> User:
    return UserFactory(username="oscar", email="oscar@example.com")


@pytest.fixture
def viewer_client(viewer: User, client_for: Any) -> TokenClient:
    return client_for(viewer)


@pytest.fixture
def outsider_client(outsider: User, client_for: Any) -> TokenClient:
    return client_for(outsider)


@pytest.fixture
def project(member: User, other_member: User, viewer: User) -> Project:
    """ "Garden": Mia its admin, Otto a member, Vera a viewer."""
    return new_project(member, "Garden", (other_member, "member"), (viewer, "viewer"))


@pytest.fixture
def orchard(member: User, viewer: User) -> Project:
    """ "Orchard": Mia its admin, Vera a member; Otto is not in it."""
    return new_project(member, "Orchard", (viewer, "member"))


@pytest.fixture
def shed(other_member: User, member: User) -> Project:
    """ "Shed": Otto its admin, Mia only a viewer."""
    return new_project(other_member, "Shed", (member, "viewer"))


@pytest.fixture
def garden(project: Project, member: User, other_member: User) -> list[Task]:
    """Three tasks of Garden: two of Mia's, then one of Otto's."""
    return [
        TaskFactory(owner=member, project=project, title="Dig"),
        TaskFactory(owner=member, project=project, title="Sow"),
        TaskFactory(owner=other_member, project=project, title="Weed"),
    ]


@pytest.fixture
def red(member: User, project: Project) -> Label:
    return label_create(actor=member, project_id=project.pk, name="red", color="#ff0000")


@pytest.fixture
def blue(member: User, project: Project) -> Label:
    return label_create(actor=member, project_id=project.pk, name="blue", color="#0000ff")


@pytest.fixture
def green(member: User, project: Project) -> Label:
    return label_create(actor=member, project_id=project.pk, name="green", color="#00ff00")


# --- each field -----------------------------------------------------------------------------


def test_status_completed_sets_completed_at_with_one_event_per_task(
    member_client: TokenClient, member: User, garden: list[Task]
) -> None:
    since = last_event_id()

    response = bulk(member_client, ids_of(*garden), set={"status": "completed"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [task["id"] for task in body] == ids_of(*garden)
    for task, item in zip(garden, body, strict=True):
        row = Task.objects.get(pk=task.pk)
        assert item["status"] == row.status == "completed"
        assert row.completed_at is not None
        assert parse_dt(item["completed_at"]) == row.completed_at
        assert item["version"] == row.version == task.version + 1
    events = events_since(since)
    assert sorted(event.subject_id for event in events) == sorted(ids_of(*garden))
    for event in events:
        assert (event.type, event.actor_id) == ("task.updated", member.pk)
        assert event.changes["status"] == ["pending", "completed"]
        assert event.changes["completed_at"][0] is None


def test_status_pending_clears_completed_at(member_client: TokenClient, garden: list[Task]) -> None:
    assert bulk(member_client, ids_of(*garden), set={"status": "completed"}).status_code == 200

    response = bulk(member_client, ids_of(*garden), set={"status": "pending"})

    assert response.status_code == 200, response.content
    for item in response.json():
        assert (item["status"], item["completed_at"]) == ("pending", None)
    assert not Task.objects.filter(pk__in=ids_of(*garden), completed_at__isnull=False).exists()


def test_priority_changes_and_a_task_that_has_it_already_keeps_its_version(
    member_client: TokenClient, member: User, garden: list[Task]
) -> None:
    dig, sow, weed = garden
    response = member_client.patch(f"/api/v1/tasks/{sow.pk}/", {"priority": "high"}, format="json")
    assert response.status_code == 200
    sow.refresh_from_db()
    since = last_event_id()

    response = bulk(member_client, ids_of(*garden), set={"priority": "high"})

    assert response.status_code == 200, response.content
    versions = {item["id"]: item["version"] for item in response.json()}
    assert versions == {dig.pk: dig.version + 1, sow.pk: sow.version, weed.pk: weed.version + 1}
    assert set(Task.objects.filter(pk__in=versions).values_list("priority", flat=True)) == {"high"}
    # One event per changed task: none for the one already high.
    assert sorted(event.subject_id for event in events_since(since)) == sorted([dig.pk, weed.pk])
    assert all(event.changes == {"priority": ["medium", "high"]} for event in events_since(since))


def test_assignee_a_writing_member_is_set_and_null_clears_it(
    member_client: TokenClient, other_member: User, garden: list[Task]
) -> None:
    response = bulk(member_client, ids_of(*garden), set={"assignee": other_member.pk})

    assert response.status_code == 200, response.content
    assert [item["assignee"] for item in response.json()] == [other_member.pk] * 3
    assert set(
        Task.objects.filter(pk__in=ids_of(*garden)).values_list("assignee_id", flat=True)
    ) == {other_member.pk}

    response = bulk(member_client, ids_of(*garden), set={"assignee": None})

    assert response.status_code == 200, response.content
    assert [item["assignee"] for item in response.json()] == [None] * 3


@pytest.mark.parametrize("who", ["outsider", "viewer"])
def test_assignee_who_may_not_write_there_is_a_400_naming_every_id(
    member_client: TokenClient,
    garden: list[Task],
    outsider: User,
    viewer: User,
    who: str,
) -> None:
    assignee = outsider if who == "outsider" else viewer
    before, since = rows(*garden), last_event_id()

    response = bulk(member_client, ids_of(*garden), set={"assignee": assignee.pk})

    assert_bulk_refused(response, {task.pk: [f"assignee: {NOT_WRITER}"] for task in garden})
    assert rows(*garden) == before
    assert events_since(since) == []


def test_due_date_is_set_and_null_clears_it(member_client: TokenClient, garden: list[Task]) -> None:
    due = (timezone.now() + timedelta(days=3)).replace(microsecond=0)

    response = bulk(member_client, ids_of(*garden), set={"due_date": due.isoformat()})

    assert response.status_code == 200, response.content
    assert {parse_dt(item["due_date"]) for item in response.json()} == {due}
    assert set(Task.objects.filter(pk__in=ids_of(*garden)).values_list("due_date", flat=True)) == {
        due
    }

    response = bulk(member_client, ids_of(*garden), set={"due_date": None})

    assert response.status_code == 200, response.content
    assert [item["due_date"] for item in response.json()] == [None] * 3


def test_several_fields_at_once_make_one_event_per_task(
    member_client: TokenClient, garden: list[Task]
) -> None:
    since = last_event_id()

    response = bulk(
        member_client, ids_of(*garden), set={"status": "in_progress", "priority": "low"}
    )

    assert response.status_code == 200, response.content
    events = events_since(since)
    assert sorted(event.subject_id for event in events) == sorted(ids_of(*garden))
    assert all(
        event.changes == {"status": ["pending", "in_progress"], "priority": ["medium", "low"]}
        for event in events
    )


# --- moving to another project --------------------------------------------------------------


def test_project_moves_the_tasks_last_into_the_destination(
    member_client: TokenClient,
    member: User,
    project: Project,
    orchard: Project,
    red: Label,
) -> None:
    there = TaskFactory(owner=member, project=orchard, title="already there")
    moving = [
        TaskFactory(owner=member, project=project, title=f"moving {index}", labels=[red.pk])
        for index in range(3)
    ]
    since = last_event_id()

    response = bulk(member_client, ids_of(*moving), set={"project": orchard.pk})

    assert response.status_code == 200, response.content
    for item in response.json():
        assert (item["project"], item["labels"]) == (orchard.pk, [])
    order = list(
        Task.objects.filter(project=orchard).order_by("position").values_list("pk", flat=True)
    )
    assert order[0] == there.pk
    assert set(order[1:]) == set(ids_of(*moving))
    keys = list(Task.objects.filter(project=orchard).values_list("position", flat=True))
    assert len(set(keys)) == len(keys) == 4
    assert not Task.labels.through.objects.filter(task_id__in=ids_of(*moving)).exists()
    events = events_since(since)
    assert sorted(event.subject_id for event in events) == sorted(ids_of(*moving))
    assert all(event.changes["project"] == [project.pk, orchard.pk] for event in events)


def test_project_the_caller_cannot_see_is_a_400_naming_it_as_a_missing_one(
    member_client: TokenClient, other_member: User, garden: list[Task]
) -> None:
    ottos_own = Project.objects.get(personal_owner=other_member)
    before, since = rows(*garden), last_event_id()

    hidden = bulk(member_client, ids_of(*garden), set={"project": ottos_own.pk})
    missing = bulk(member_client, ids_of(*garden), set={"project": 10**12})

    error = assert_error(hidden, 400, "validation_error")
    assert set(error["fields"]) == {"set"}, error
    assert set(error["fields"]["set"]) == {"project"}, error
    # Named where the body has it, as a project that does not exist is.
    assert set(assert_error(missing, 400, "validation_error")["fields"]) == {"set"}
    assert rows(*garden) == before
    assert events_since(since) == []


def test_project_where_the_caller_only_views_is_a_403(
    member_client: TokenClient, garden: list[Task], shed: Project
) -> None:
    before, since = rows(*garden), last_event_id()

    response = bulk(member_client, ids_of(*garden), set={"project": shed.pk})

    assert_error(response, 403, "permission_denied")
    assert rows(*garden) == before
    assert events_since(since) == []


def test_project_where_an_assignee_may_not_write_names_that_task_only(
    member_client: TokenClient,
    member: User,
    other_member: User,
    project: Project,
    orchard: Project,
) -> None:
    free = TaskFactory(owner=member, project=project, title="free")
    ottos = TaskFactory(owner=member, project=project, title="Otto's", assignee=other_member)
    before, since = rows(free, ottos), last_event_id()

    response = bulk(member_client, ids_of(free, ottos), set={"project": orchard.pk})

    assert_bulk_refused(response, {ottos.pk: [f"assignee: {NOT_WRITER}"]})
    assert rows(free, ottos) == before
    assert events_since(since) == []


def test_project_with_add_labels_gives_the_moved_tasks_the_destinations_labels(
    member_client: TokenClient,
    member: User,
    project: Project,
    orchard: Project,
    red: Label,
) -> None:
    """The labels each task gains are "of its project, after a move the new one's"; the
    old project's labels stay behind as on a PATCH of `project` alone."""
    ripe = label_create(actor=member, project_id=orchard.pk, name="ripe", color="#ffaa00")
    labelled = TaskFactory(owner=member, project=project, title="labelled", labels=[red.pk])
    bare = TaskFactory(owner=member, project=project, title="bare")

    response = bulk(
        member_client, ids_of(labelled, bare), set={"project": orchard.pk}, add_labels=[ripe.pk]
    )

    assert response.status_code == 200, response.content
    assert [(item["project"], item["labels"]) for item in response.json()] == [
        (orchard.pk, [ripe.pk]),
        (orchard.pk, [ripe.pk]),
    ]


# --- labels -----------------------------------------------------------------------------


def test_add_and_remove_labels(
    member_client: TokenClient,
    member: User,
    project: Project,
    red: Label,
    blue: Label,
    green: Label,
) -> None:
    red_one = TaskFactory(owner=member, project=project, labels=[red.pk, blue.pk])
    bare = TaskFactory(owner=member, project=project)
    since = last_event_id()

    response = bulk(
        member_client, ids_of(red_one, bare), add_labels=[green.pk, blue.pk], remove_labels=[red.pk]
    )

    assert response.status_code == 200, response.content
    expected = sorted([blue.pk, green.pk])
    assert [item["labels"] for item in response.json()] == [expected, expected]
    for task in (red_one, bare):
        assert Task.objects.get(pk=task.pk).label_ids == expected
        assert (
            sorted(
                Task.labels.through.objects.filter(task_id=task.pk).values_list(
                    "label_id", flat=True
                )
            )
            == expected
        )
    # The label filter sees the change.
    listed = member_client.get("/api/v1/tasks/", {"label": green.pk}).json()
    assert {item["id"] for item in listed["results"]} == {red_one.pk, bare.pk}
    changes = {event.subject_id: event.changes for event in events_since(since)}
    assert changes == {
        red_one.pk: {"labels": [sorted([red.pk, blue.pk]), expected]},
        bare.pk: {"labels": [[], expected]},
    }


def test_a_label_of_another_project_is_a_400_naming_each_task(
    member_client: TokenClient, member: User, garden: list[Task], orchard: Project
) -> None:
    ripe = label_create(actor=member, project_id=orchard.pk, name="ripe", color="#ffaa00")
    before, since = rows(*garden), last_event_id()

    response = bulk(member_client, ids_of(*garden), add_labels=[ripe.pk])

    message = f"labels: No label {ripe.pk} in the task's project."
    assert_bulk_refused(response, {task.pk: [message] for task in garden})
    assert rows(*garden) == before
    assert events_since(since) == []


# --- the ids --------------------------------------------------------------------------------


def test_100_ids_change_together_in_the_order_given(
    member_client: TokenClient, member: User, project: Project
) -> None:
    tasks = [TaskFactory(owner=member, project=project, title=f"t{i}") for i in range(100)]
    ids = list(reversed(ids_of(*tasks)))
    since = last_event_id()

    response = bulk(member_client, ids, set={"priority": "high"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["id"] for item in body] == ids
    versions = dict(Task.objects.filter(pk__in=ids).values_list("pk", "version"))
    assert {item["id"]: item["version"] for item in body} == versions
    assert set(versions.values()) == {2}
    assert len(events_since(since)) == 100


def test_the_response_is_in_the_order_of_the_ids_with_the_new_versions(
    member_client: TokenClient, garden: list[Task]
) -> None:
    dig, sow, weed = garden
    ids = [weed.pk, dig.pk, sow.pk]

    response = bulk(member_client, ids, set={"priority": "low"})

    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()] == ids
    for item in response.json():
        row = Task.objects.get(pk=item["id"])
        assert (item["version"], item["priority"]) == (row.version, "low")


@pytest.mark.parametrize(
    ("ids", "field"),
    [
        (list(range(1, 102)), "ids"),
        ([], "ids"),
        (None, "ids"),
        (["1"], "ids"),
        ([0], "ids"),
    ],
    ids=["101", "empty", "null", "string", "zero"],
)
def test_too_many_or_no_ids_are_a_400(
    member_client: TokenClient, garden: list[Task], ids: Any, field: str
) -> None:
    before, since = rows(*garden), last_event_id()

    response = member_client.post(BULK_URL, {"ids": ids, "set": {"priority": "low"}}, format="json")

    assert_field_error(response, field)
    assert rows(*garden) == before
    assert events_since(since) == []


def test_101_ids_of_visible_tasks_are_a_400(
    member_client: TokenClient, member: User, project: Project
) -> None:
    tasks = [TaskFactory(owner=member, project=project, title=f"t{i}") for i in range(101)]
    before = rows(*tasks)

    assert_field_error(bulk(member_client, ids_of(*tasks), set={"priority": "low"}), "ids")
    assert_field_error(bulk_delete(member_client, ids_of(*tasks)), "ids")

    assert rows(*tasks) == before


@pytest.mark.parametrize(
    "body",
    [
        {"set": {"title": "x"}},
        {"set": {"priority": "urgent"}},
        {"colour": "red"},
        {"set": {"status": "completed", "version": 3}},
    ],
)
def test_unknown_or_wrong_fields_are_a_400_naming_them(
    member_client: TokenClient, garden: list[Task], body: dict[str, Any]
) -> None:
    before, since = rows(*garden), last_event_id()

    response = bulk(member_client, ids_of(*garden), **body)

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == set(body), error
    assert rows(*garden) == before
    assert events_since(since) == []


def test_duplicate_ids_change_each_task_once(
    member_client: TokenClient, garden: list[Task]
) -> None:
    dig, sow, _weed = garden
    since = last_event_id()

    response = bulk(member_client, [sow.pk, dig.pk, sow.pk, sow.pk], set={"priority": "high"})

    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()] == [sow.pk, dig.pk]
    assert [item["version"] for item in response.json()] == [sow.version + 1, dig.version + 1]
    assert sorted(event.subject_id for event in events_since(since)) == sorted([sow.pk, dig.pk])


# --- all or nothing ---------------------------------------------------------------------


def test_one_id_not_visible_is_named_and_nothing_changes(
    member_client: TokenClient, garden: list[Task], others_task: Task
) -> None:
    before, since = rows(*garden, others_task), last_event_id()

    response = bulk(member_client, [*ids_of(*garden), others_task.pk], set={"priority": "high"})

    assert_bulk_refused(response, {others_task.pk: [NOT_VISIBLE]})
    assert rows(*garden, others_task) == before
    assert events_since(since) == []


def test_two_failing_ids_are_both_named(
    member_client: TokenClient, garden: list[Task], others_task: Task
) -> None:
    missing = others_task.pk + 1000
    before, since = rows(*garden, others_task), last_event_id()

    response = bulk(
        member_client,
        [garden[0].pk, missing, others_task.pk, garden[1].pk],
        set={"status": "completed"},
    )

    assert_bulk_refused(response, {missing: [NOT_VISIBLE], others_task.pk: [NOT_VISIBLE]})
    assert rows(*garden, others_task) == before
    assert events_since(since) == []


def test_a_task_the_caller_only_views_is_named(
    viewer_client: TokenClient, viewer: User, garden: list[Task]
) -> None:
    own = TaskFactory(owner=viewer, title="Vera's own")
    before, since = rows(own, *garden), last_event_id()

    response = bulk(viewer_client, [own.pk, garden[2].pk], set={"priority": "high"})

    assert_bulk_refused(response, {garden[2].pk: [NOT_YOURS]})
    assert rows(own, *garden) == before
    assert events_since(since) == []


def test_an_outsider_sees_none_of_the_tasks(
    outsider_client: TokenClient, garden: list[Task]
) -> None:
    before = rows(*garden)

    response = bulk(outsider_client, ids_of(*garden), set={"priority": "high"})

    assert_bulk_refused(response, {task.pk: [NOT_VISIBLE] for task in garden})
    assert rows(*garden) == before


def test_a_site_manager_changes_tasks_of_any_project(
    manager_client: TokenClient, garden: list[Task], others_task: Task
) -> None:
    response = bulk(manager_client, [*ids_of(*garden), others_task.pk], set={"priority": "low"})

    assert response.status_code == 200, response.content
    assert {item["priority"] for item in response.json()} == {"low"}


def test_anonymous_bulk_requests_are_a_401(garden: list[Task]) -> None:
    before = rows(*garden)

    assert APIClient().post(BULK_URL, {"ids": ids_of(*garden)}, format="json").status_code == 401
    assert (
        APIClient().post(BULK_DELETE_URL, {"ids": ids_of(*garden)}, format="json").status_code
        == 401
    )

    assert rows(*garden) == before


def test_a_failure_at_the_last_task_rolls_back_the_first_ones(
    member_client: TokenClient, member: User, garden: list[Task], red: Label
) -> None:
    # Garden's label fits Garden's tasks, written first (in id order), but not the
    # personal task, created last: its failure must undo the others' writes.
    personal = TaskFactory(owner=member, title="personal")
    before, since = rows(*garden, personal), last_event_id()

    response = bulk(member_client, [*ids_of(*garden), personal.pk], add_labels=[red.pk])

    assert_bulk_refused(
        response, {personal.pk: [f"labels: No label {red.pk} in the task's project."]}
    )
    assert rows(*garden, personal) == before
    assert events_since(since) == []


def test_a_task_of_an_archived_project_is_named(
    member_client: TokenClient, member: User, garden: list[Task], orchard: Project
) -> None:
    shelved = TaskFactory(owner=member, project=orchard, title="shelved")
    archive(orchard)
    before, since = rows(*garden, shelved), last_event_id()

    response = bulk(member_client, [*ids_of(*garden), shelved.pk], set={"priority": "high"})

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {str(shelved.pk)}, error
    assert rows(*garden, shelved) == before
    assert events_since(since) == []


def test_completing_a_parent_and_its_subtask_answers_their_final_versions(
    member_client: TokenClient, member: User, project: Project
) -> None:
    """The subtask's completion changes its parent again (its `subtasks` count, a new
    version): the answer shows each task as it ends, as the task's own GET does."""
    parent = TaskFactory(owner=member, project=project, title="parent")
    child = TaskFactory(owner=member, project=project, title="child", parent=parent.pk)

    response = bulk(member_client, [parent.pk, child.pk], set={"status": "completed"})

    assert response.status_code == 200, response.content
    for item in response.json():
        shown = member_client.get(f"/api/v1/tasks/{item['id']}/").json()
        assert (item["version"], item["subtasks"]) == (shown["version"], shown["subtasks"])
    assert response.json()[0]["subtasks"] == {"total": 1, "completed": 1}


def test_tasks_taking_the_same_values_are_written_in_one_update(
    member_client: TokenClient, garden: list[Task]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Task.objects.filter(pk=garden[2].pk).update(priority="low")
    versions = {task.pk: task.version for task in Task.objects.filter(pk__in=ids_of(*garden))}

    with CaptureQueriesContext(connection) as captured:
        response = bulk(member_client, ids_of(*garden), set={"priority": "low"})

    assert response.status_code == 200, response.content
    updates = [q for q in captured.captured_queries if q["sql"].startswith('UPDATE "tasks_task"')]
    assert len(updates) == 1
    assert {item["id"]: item["version"] for item in response.json()} == {
        garden[0].pk: versions[garden[0].pk] + 1,
        garden[1].pk: versions[garden[1].pk] + 1,
        garden[2].pk: versions[garden[2].pk],  # had it already: untouched
    }


def test_each_tasks_events_follow_its_versions_up_to_its_final_state(
    member_client: TokenClient, member: User, project: Project
) -> None:
    """Completing a parent, its subtask, a blocker and the task it blocks together:
    each task's own event comes before those of the counts the others give it, so a
    client replaying the events in order ends at each task's final state."""
    from tasks.services import relation_create

    parent = TaskFactory(owner=member, project=project, title="parent")
    child = TaskFactory(owner=member, project=project, title="child", parent=parent.pk)
    blocker = TaskFactory(owner=member, project=project, title="blocker")
    blocked = TaskFactory(owner=member, project=project, title="blocked")
    relation_create(actor=member, task=blocker, kind="blocks", other_id=blocked.pk)
    # The blocked task and the parent first: the others' changes reach them last.
    ids = [blocked.pk, parent.pk, child.pk, blocker.pk]
    since = Event.objects.order_by("id").values_list("id", flat=True).last()

    response = bulk(member_client, ids, set={"status": "completed"})

    assert response.status_code == 200, response.content
    for item in response.json():
        recorded = list(
            Event.objects.filter(id__gt=since, subject_id=item["id"], type="task.updated")
            .order_by("id")
            .values_list("data", flat=True)
        )
        versions = [data["version"] for data in recorded]
        assert versions == sorted(versions) and len(set(versions)) == len(versions), versions
        last = recorded[-1]
        assert (last["version"], last["status"]) == (item["version"], "completed")
        assert (last["subtasks"], last["blocked"]) == (item["subtasks"], item["blocked"])
    final = {item["id"]: item for item in response.json()}
    assert final[parent.pk]["subtasks"] == {"total": 1, "completed": 1}
    assert final[blocked.pk]["blocked"] is False


# --- bulk delete ----------------------------------------------------------------------------


def test_bulk_delete_deletes_every_task_with_an_event_each(
    member_client: TokenClient, member: User, garden: list[Task]
) -> None:
    since = last_event_id()

    response = bulk_delete(member_client, ids_of(*garden))

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk__in=ids_of(*garden)).exists()
    events = events_since(since)
    assert sorted((event.type, event.subject_id) for event in events) == sorted(
        ("task.deleted", pk) for pk in ids_of(*garden)
    )
    assert all(event.actor_id == member.pk for event in events)


def test_bulk_delete_with_one_id_not_visible_names_it_and_deletes_nothing(
    member_client: TokenClient, garden: list[Task], others_task: Task
) -> None:
    since = last_event_id()

    response = bulk_delete(member_client, [*ids_of(*garden), others_task.pk])

    assert_bulk_refused(response, {others_task.pk: [NOT_VISIBLE]})
    assert Task.objects.filter(pk__in=[*ids_of(*garden), others_task.pk]).count() == 4
    assert events_since(since) == []


def test_a_member_may_not_bulk_delete_anothers_task_in_a_shared_project(
    other_member_client: TokenClient, garden: list[Task]
) -> None:
    dig, sow, weed = garden  # Otto created weed; Mia the others
    since = last_event_id()

    response = bulk_delete(other_member_client, [weed.pk, dig.pk, sow.pk])

    assert_bulk_refused(response, {dig.pk: [NOT_YOURS], sow.pk: [NOT_YOURS]})
    assert Task.objects.filter(pk__in=ids_of(*garden)).count() == 3
    assert events_since(since) == []
    # His own alone he deletes.
    assert bulk_delete(other_member_client, [weed.pk]).status_code == 204


def test_a_viewer_may_not_bulk_delete(viewer_client: TokenClient, garden: list[Task]) -> None:
    response = bulk_delete(viewer_client, ids_of(*garden))

    assert_bulk_refused(response, {task.pk: [NOT_YOURS] for task in garden})
    assert Task.objects.filter(pk__in=ids_of(*garden)).count() == 3


def test_a_site_admin_bulk_deletes_tasks_of_any_project(
    admin_client: TokenClient, garden: list[Task], others_task: Task
) -> None:
    response = bulk_delete(admin_client, [*ids_of(*garden), others_task.pk])

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk__in=[*ids_of(*garden), others_task.pk]).exists()


def test_bulk_delete_of_a_parent_and_its_subtask_deletes_both(
    member_client: TokenClient, member: User, project: Project
) -> None:
    parent = TaskFactory(owner=member, project=project, title="parent")
    child = TaskFactory(owner=member, project=project, title="child", parent=parent.pk)

    response = bulk_delete(member_client, [child.pk, parent.pk])

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk__in=[parent.pk, child.pk]).exists()


@pytest.mark.parametrize("ids", [[], None, list(range(1, 102))], ids=["empty", "null", "101"])
def test_bulk_delete_needs_1_to_100_ids(
    member_client: TokenClient, garden: list[Task], ids: Any
) -> None:
    assert_field_error(member_client.post(BULK_DELETE_URL, {"ids": ids}, format="json"), "ids")
    assert Task.objects.filter(pk__in=ids_of(*garden)).count() == 3


# --- throttles ------------------------------------------------------------------------------


def test_the_bulk_rate_lets_100_tasks_through_and_refuses_the_next_100(
    member_client: TokenClient, member: User, project: Project, settings: Any
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "bulk_tasks": "150/min"}
    tasks = [TaskFactory(owner=member, project=project, title=f"t{i}") for i in range(100)]

    assert bulk(member_client, ids_of(*tasks), set={"priority": "high"}).status_code == 200
    before, since = rows(*tasks), last_event_id()
    response = bulk(member_client, ids_of(*tasks), set={"priority": "low"})

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    assert rows(*tasks) == before
    assert events_since(since) == []
    # Deleting in bulk counts against the same rate.
    assert_error(bulk_delete(member_client, ids_of(*tasks)), 429, "throttled")
    assert Task.objects.filter(pk__in=ids_of(*tasks)).count() == 100


def test_duplicate_ids_count_once_against_the_bulk_rate(
    member_client: TokenClient, garden: list[Task], settings: Any
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "bulk_tasks": "3/min"}
    dig, sow, weed = garden

    response = bulk(
        member_client, [dig.pk, dig.pk, sow.pk, weed.pk, sow.pk], set={"priority": "high"}
    )
    assert response.status_code == 200, response.content

    assert_error(bulk(member_client, [dig.pk], set={"priority": "low"}), 429, "throttled")


def test_a_bulk_request_counts_one_against_the_write_rate(
    member_client: TokenClient, garden: list[Task], settings: Any
) -> None:
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "write": "1000/min",
        "bulk_tasks": "500/min",
    }

    first = bulk(member_client, ids_of(*garden), set={"priority": "high"})
    second = bulk(member_client, ids_of(*garden), set={"priority": "low"})
    third = bulk_delete(member_client, ids_of(*garden))

    for response in (first, second, third):
        assert response.status_code in (200, 204), response.content
        assert response["X-RateLimit-Limit"] == "1000"
    remaining = [int(response["X-RateLimit-Remaining"]) for response in (first, second, third)]
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]


def test_a_bulk_of_one_task_reports_the_write_rate_in_its_headers(
    member_client: TokenClient, garden: list[Task], settings: Any
) -> None:
    """X-RateLimit-* are the write scope's for every bulk request, one id or a hundred."""
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "write": "1000/min",
        "bulk_tasks": "500/min",
    }

    first = bulk(member_client, ids_of(*garden), set={"priority": "high"})
    second = bulk(member_client, [garden[0].pk], set={"priority": "low"})

    assert second.status_code == 200, second.content
    assert second["X-RateLimit-Limit"] == "1000"
    assert int(second["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1


def test_the_write_rate_refuses_a_bulk_request_over_it(
    member_client: TokenClient, garden: list[Task], settings: Any
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "2/min"}
    assert bulk(member_client, ids_of(*garden), set={"priority": "high"}).status_code == 200
    assert bulk(member_client, ids_of(*garden), set={"priority": "low"}).status_code == 200
    before = rows(*garden)

    assert_error(bulk(member_client, ids_of(*garden), set={"priority": "medium"}), 429, "throttled")

    assert rows(*garden) == before


@pytest.mark.parametrize(
    "created_first",
    [
        "parent",
        "child",
    ],
)
def test_moving_a_parent_and_its_subtask_together_keeps_them_nested(
    member_client: TokenClient,
    member: User,
    project: Project,
    orchard: Project,
    created_first: str,
) -> None:
    """Whichever id is smaller (the order the bulk writes in), the subtask ends in the
    new project under its parent, as when the parent moves alone."""
    first = TaskFactory(owner=member, project=project, title="first")
    second = TaskFactory(owner=member, project=project, title="second")
    parent, child = (first, second) if created_first == "parent" else (second, first)
    response = member_client.patch(
        f"/api/v1/tasks/{child.pk}/", {"parent": parent.pk}, format="json"
    )
    assert response.status_code == 200, response.content

    response = bulk(member_client, [parent.pk, child.pk], set={"project": orchard.pk})

    assert response.status_code == 200, response.content
    child.refresh_from_db()
    parent.refresh_from_db()
    assert (child.project_id, child.parent_id) == (orchard.pk, parent.pk)
    assert (parent.project_id, parent.subtasks_total) == (orchard.pk, 1)


@pytest.mark.parametrize("kind", ["update", "delete"])
def test_a_bulk_inserts_its_events_at_once_and_asks_for_the_ordering_lock_once(
    member_client: TokenClient, garden: list[Task], kind: str
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from activity.models import Event

    last = Event.objects.order_by("id").values_list("id", flat=True).last()
    with CaptureQueriesContext(connection) as captured:
        if kind == "update":
            response = bulk(member_client, ids_of(*garden), set={"priority": "low"})
        else:
            response = bulk_delete(member_client, ids_of(*garden))

    assert response.status_code in (200, 204), response.content
    inserts = [
        q for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "activity_event"')
    ]
    # One event per task, all in one statement.
    assert len(inserts) == 1
    recorded = Event.objects.filter(id__gt=last).order_by("id")
    assert [event.subject_id for event in recorded] == ids_of(*garden)
    assert {event.type for event in recorded} == {f"task.{kind}d"}
    if connection.vendor == "postgresql":
        # The lock, held to the commit once taken, asked for once.
        locks = [q for q in captured.captured_queries if "pg_advisory_xact_lock" in q["sql"]]
        assert len(locks) == 1


def test_a_bulk_bumps_each_cache_scope_once(
    member_client: TokenClient,
    garden: list[Task],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from tasks import caching

    bumps: list[list[str]] = []
    real_bump = caching._bump
    monkeypatch.setattr(caching, "_bump", lambda scopes: (bumps.append(scopes), real_bump(scopes)))

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk(member_client, ids_of(*garden), set={"priority": "low"})

    assert response.status_code == 200, response.content
    # One round trip for the whole bulk, each scope once, rather than one per task.
    assert len(bumps) == 1, bumps
    assert len(bumps[0]) == len(set(bumps[0]))
    assert any(scope.startswith("project:") for scope in bumps[0])


# Each request its own transaction, as in production (not the test's one).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_events_of_one_transaction_share_a_key_and_the_next_ones_another(
    member_client: TokenClient, garden: list[Task]
) -> None:
    """Readers that page through events (sync) keep a transaction's events together."""
    since = Event.objects.order_by("id").values_list("id", flat=True).last()

    assert bulk(member_client, ids_of(*garden), set={"priority": "low"}).status_code == 200
    assert bulk(member_client, ids_of(*garden[:2]), set={"priority": "high"}).status_code == 200

    keys = list(
        Event.objects.filter(id__gt=since).order_by("id").values_list("transaction_key", flat=True)
    )
    assert len(keys) == 5 and None not in keys
    assert len(set(keys[:3])) == 1 and len(set(keys[3:])) == 1
    assert keys[0] != keys[3]
