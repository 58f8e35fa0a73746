"""The manual order: POST tasks/{id}/move/ puts a task just before or just after another
task of its project, writing that one row (a new version, an event with `position`);
new tasks go last; `?ordering=position` lists the order."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from activity.models import Event
from projects.models import Project
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.helpers import TASKS_URL, TokenClient, assert_error, assert_field_error, task_url
from tests.projects.helpers import archive, new_project
from tests.tasks.helpers import list_ids

pytestmark = pytest.mark.django_db

Committed = Callable[[], Any]


def move_url(task: Any) -> str:
    return f"{task_url(task)}move/"


def ordered(client: Any, project: Project) -> list[int]:
    """The project's task ids as `client` lists them in the manual order."""
    return list_ids(client, {"project": project.pk, "ordering": "position"})


def stored_order(project: Project) -> list[int]:
    return list(
        Task.objects.filter(project=project).order_by("position").values_list("pk", flat=True)
    )


def task_updates(task: Task) -> int:
    return Event.objects.filter(subject_id=task.pk, type="task.updated").count()


def task_row_updates(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith('UPDATE "TASKS_TASK"')
    ]


@pytest.fixture
def viewer(db: None) -> User:
    return UserFactory(username="vera", email="vera@example.com")


@pytest.fixture
def outsider(db: None) -> User:
    return UserFactory(username="oscar", email="oscar@example.com")


@pytest.fixture
def project(member: User, other_member: User, viewer: User) -> Project:
    """ "Garden": Mia its admin, Otto a member, Vera a viewer."""
    return new_project(member, "Garden", (other_member, "member"), (viewer, "viewer"))


@pytest.fixture
def five(project: Project, member: User) -> list[Task]:
    """Tasks a..e of Garden, created in that order (so ordered so)."""
    return [TaskFactory(owner=member, project=project, title=name) for name in "abcde"]


# --- new tasks go last ------------------------------------------------------------------


def test_new_tasks_go_last_in_creation_order_with_distinct_positions(
    member_client: TokenClient, project: Project, committed: Committed
) -> None:
    created = []
    for title in ["one", "two", "three", "four", "five"]:
        with committed():
            response = member_client.post(
                TASKS_URL, {"title": title, "project": project.pk}, format="json"
            )
        assert response.status_code == 201, response.content
        created.append(response.json())

    assert ordered(member_client, project) == [task["id"] for task in created]
    keys = [task["position"] for task in created]
    assert all(isinstance(key, str) and key for key in keys), keys
    assert len(set(keys)) == len(keys)
    # Byte order is the order (the column is COLLATE "C").
    assert keys == sorted(keys)


def test_a_task_created_after_moves_still_goes_last(
    member_client: TokenClient, five: list[Task], project: Project, committed: Committed
) -> None:
    a, b, c, d, e = five
    with committed():
        assert member_client.post(move_url(e), {"before": a.pk}, format="json").status_code == 200
        response = member_client.post(
            TASKS_URL, {"title": "f", "project": project.pk}, format="json"
        )
    assert response.status_code == 201, response.content

    assert ordered(member_client, project) == [e.pk, a.pk, b.pk, c.pk, d.pk, response.json()["id"]]


# --- where a move puts the task ---------------------------------------------------------


@pytest.mark.parametrize(
    ("moved", "where", "reference", "expected"),
    [
        ("e", "before", "b", "aebcd"),
        ("a", "after", "c", "bcade"),
        ("b", "before", "d", "acbde"),
        ("d", "after", "a", "adbce"),
        # To the very first place, and to the very last.
        ("d", "before", "a", "dabce"),
        ("b", "after", "e", "acdeb"),
        ("e", "before", "a", "eabcd"),
        ("a", "after", "e", "bcdea"),
    ],
)
def test_a_move_puts_the_task_just_before_or_after_the_reference(
    member_client: TokenClient,
    five: list[Task],
    project: Project,
    committed: Committed,
    moved: str,
    where: str,
    reference: str,
    expected: str,
) -> None:
    tasks = dict(zip("abcde", five, strict=True))
    ordered(member_client, project)  # cached now: the move must make it stale

    with committed():
        response = member_client.post(
            move_url(tasks[moved]), {where: tasks[reference].pk}, format="json"
        )

    assert response.status_code == 200, response.content
    assert ordered(member_client, project) == [tasks[name].pk for name in expected]
    assert stored_order(project) == [tasks[name].pk for name in expected]


def test_a_move_answers_the_task_with_its_new_version_position_and_etag(
    member_client: TokenClient, five: list[Task]
) -> None:
    a, b, _c, _d, e = five

    response = member_client.post(move_url(e), {"after": a.pk}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    e_now = Task.objects.get(pk=e.pk)
    assert body["id"] == e.pk
    assert body["version"] == e.version + 1 == e_now.version
    assert body["position"] == e_now.position
    assert a.position < body["position"] < b.position
    assert body["title"] == "e"
    assert response["ETag"] == f'"{e.pk}-{e.version + 1}"'
    # The task's own GET agrees.
    assert member_client.get(task_url(e))["ETag"] == response["ETag"]


def test_a_move_writes_one_event_with_only_the_position_change(
    member_client: TokenClient, member: User, five: list[Task]
) -> None:
    a, _b, _c, _d, e = five
    before = Event.objects.count()

    response = member_client.post(move_url(a), {"before": e.pk}, format="json")

    assert response.status_code == 200, response.content
    assert Event.objects.count() == before + 1
    event = Event.objects.latest("id")
    assert (event.type, event.subject_id, event.actor_id) == ("task.updated", a.pk, member.pk)
    assert event.changes == {"position": [a.position, response.json()["position"]]}
    assert event.data["position"] == response.json()["position"]
    assert event.data["version"] == a.version + 1


def test_a_move_in_the_middle_updates_only_the_moved_row(
    member_client: TokenClient, five: list[Task]
) -> None:
    a, b, c, d, e = five
    untouched = {task.pk: (task.position, task.version) for task in (a, b, c, d)}

    with CaptureQueriesContext(connection) as queries:
        response = member_client.post(move_url(e), {"before": c.pk}, format="json")

    assert response.status_code == 200, response.content
    updates = task_row_updates(queries)
    assert len(updates) == 1, updates
    assert str(e.pk) in updates[0]
    for task in Task.objects.filter(pk__in=list(untouched)):
        assert (task.position, task.version) == untouched[task.pk]


@pytest.mark.parametrize(("where", "reference"), [("before", "d"), ("after", "b")])
def test_a_move_to_where_the_task_already_is_changes_nothing(
    member_client: TokenClient, five: list[Task], where: str, reference: str
) -> None:
    tasks = dict(zip("abcde", five, strict=True))
    c = tasks["c"]
    events_before = Event.objects.count()

    with CaptureQueriesContext(connection) as queries:
        response = member_client.post(move_url(c), {where: tasks[reference].pk}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["version"] == c.version
    assert response.json()["position"] == c.position
    assert response["ETag"] == f'"{c.pk}-{c.version}"'
    assert task_row_updates(queries) == []
    assert Event.objects.count() == events_before
    row = Task.objects.get(pk=c.pk)
    assert (row.position, row.version, row.updated_at) == (c.position, c.version, c.updated_at)


def test_moves_there_and_back_restore_the_order(
    member_client: TokenClient, five: list[Task], project: Project, committed: Committed
) -> None:
    a, b, c, d, e = five
    with committed():
        assert member_client.post(move_url(b), {"after": d.pk}, format="json").status_code == 200
        assert member_client.post(move_url(b), {"before": c.pk}, format="json").status_code == 200

    assert ordered(member_client, project) == [a.pk, b.pk, c.pk, d.pk, e.pk]
    assert Task.objects.get(pk=b.pk).version == b.version + 2


def test_another_member_and_a_site_manager_move_the_task(
    other_member_client: TokenClient,
    manager_client: TokenClient,
    five: list[Task],
    project: Project,
) -> None:
    a, b, c, d, e = five

    assert other_member_client.post(move_url(a), {"after": b.pk}, format="json").status_code == 200
    assert manager_client.post(move_url(e), {"before": a.pk}, format="json").status_code == 200

    assert stored_order(project) == [b.pk, e.pk, a.pk, c.pk, d.pk]


# --- refused moves ------------------------------------------------------------------------


def assert_refused_unchanged(tasks: list[Task], events_before: int) -> None:
    for task in tasks:
        row = Task.objects.get(pk=task.pk)
        assert (row.position, row.version) == (task.position, task.version), task.title
    assert Event.objects.count() == events_before


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_reference_of_another_project_is_a_400_naming_the_field(
    member_client: TokenClient, member: User, five: list[Task], where: str
) -> None:
    # Mia sees this one (her personal project's), but it is not in Garden's order.
    elsewhere = TaskFactory(owner=member, title="personal")
    events_before = Event.objects.count()

    response = member_client.post(move_url(five[0]), {where: elsewhere.pk}, format="json")

    error = assert_field_error(response, where)
    assert set(error["fields"]) == {where}, error
    assert_refused_unchanged([*five, elsewhere], events_before)


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("reference", ["others", "missing"])
def test_a_reference_the_caller_cannot_see_is_a_400_like_a_missing_one(
    member_client: TokenClient,
    others_task: Task,
    five: list[Task],
    where: str,
    reference: str,
) -> None:
    reference_id = others_task.pk if reference == "others" else others_task.pk + 1000
    events_before = Event.objects.count()

    response = member_client.post(move_url(five[0]), {where: reference_id}, format="json")

    error = assert_field_error(response, where)
    assert set(error["fields"]) == {where}, error
    # The same answer whether it exists or not: nothing told about Otto's task.
    assert error["fields"][where] == [f"No task {reference_id} in this task's project."]
    assert_refused_unchanged([*five, others_task], events_before)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_move_next_to_itself_is_a_400(
    member_client: TokenClient, five: list[Task], where: str
) -> None:
    events_before = Event.objects.count()

    response = member_client.post(move_url(five[2]), {where: five[2].pk}, format="json")

    assert_field_error(response, where)
    assert_refused_unchanged(five, events_before)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"before": "B", "after": "D"},
        {"before": None},
        {"before": "B", "after": None},
    ],
    ids=["neither", "both", "null", "one-and-a-null"],
)
def test_both_or_neither_reference_is_a_400(
    member_client: TokenClient, five: list[Task], body: dict[str, Any]
) -> None:
    ids = {"B": five[1].pk, "D": five[3].pk}
    sent = {key: ids.get(value, value) for key, value in body.items()}
    events_before = Event.objects.count()

    response = member_client.post(move_url(five[2]), sent, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"], error
    assert set(error["fields"]) <= {"before", "after"}, error
    assert_refused_unchanged(five, events_before)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"before": "B", "colour": "red"}, "colour"),
        ({"position": "0"}, "position"),
        ({"after": "B", "project": 1}, "project"),
        ({"before": "1"}, "before"),
        ({"before": 0}, "before"),
        ({"after": [1]}, "after"),
    ],
)
def test_unknown_fields_and_wrong_values_are_a_400_naming_the_field(
    member_client: TokenClient, five: list[Task], body: dict[str, Any], field: str
) -> None:
    sent = {key: five[1].pk if value == "B" else value for key, value in body.items()}
    events_before = Event.objects.count()

    response = member_client.post(move_url(five[2]), sent, format="json")

    assert_field_error(response, field)
    assert_refused_unchanged(five, events_before)


def test_a_viewer_of_the_project_gets_403(viewer: User, client_for: Any, five: list[Task]) -> None:
    events_before = Event.objects.count()

    response = client_for(viewer).post(move_url(five[4]), {"before": five[0].pk}, format="json")

    assert_error(response, 403, "permission_denied")
    assert_refused_unchanged(five, events_before)


def test_a_task_the_caller_cannot_see_is_a_404(
    outsider: User, client_for: Any, five: list[Task], member_client: TokenClient, others_task: Task
) -> None:
    events_before = Event.objects.count()

    response = client_for(outsider).post(move_url(five[4]), {"before": five[0].pk}, format="json")
    assert_error(response, 404, "not_found")
    # Mia's own task as the reference does not make Otto's task hers to move.
    response = member_client.post(move_url(others_task), {"before": five[0].pk}, format="json")
    assert_error(response, 404, "not_found")
    response = member_client.post(move_url(others_task.pk + 1000), {"before": five[0].pk})
    assert_error(response, 404, "not_found")

    assert_refused_unchanged([*five, others_task], events_before)


def test_an_anonymous_move_is_a_401(five: list[Task]) -> None:
    response = APIClient().post(move_url(five[4]), {"before": five[0].pk}, format="json")

    assert response.status_code == 401, response.content
    assert Task.objects.get(pk=five[4].pk).version == five[4].version


def test_a_move_in_an_archived_project_is_a_409(
    member_client: TokenClient, five: list[Task], project: Project
) -> None:
    archive(project)
    events_before = Event.objects.count()

    response = member_client.post(move_url(five[4]), {"before": five[0].pk}, format="json")

    assert response.status_code == 409, response.content
    assert_refused_unchanged(five, events_before)


# --- If-Match -----------------------------------------------------------------------------


def test_a_stale_if_match_is_a_412_and_moves_nothing(
    member_client: TokenClient, five: list[Task]
) -> None:
    a, _b, _c, _d, e = five
    stale = f'"{e.pk}-{e.version}"'
    assert member_client.patch(task_url(e), {"title": "E"}, format="json").status_code == 200
    e.refresh_from_db()
    events_before = Event.objects.count()

    response = member_client.post(move_url(e), {"before": a.pk}, format="json", HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert_refused_unchanged(five, events_before)


def test_a_current_if_match_moves_the_task(member_client: TokenClient, five: list[Task]) -> None:
    a, _b, _c, _d, e = five

    response = member_client.post(
        move_url(e), {"before": a.pk}, format="json", HTTP_IF_MATCH=f'"{e.pk}-{e.version}"'
    )

    assert response.status_code == 200, response.content
    assert response["ETag"] == f'"{e.pk}-{e.version + 1}"'
    assert Task.objects.get(pk=e.pk).position < a.position
