"""Subtasks (issue 24): `parent` on create and PATCH, in the same project, without
cycles and at most 5 levels deep; the parent's `subtasks` counts following every
change of a child (each with a new version and event of the parent); `?parent=`;
a deleted parent detaching its children; a task moving to another project taking
its subtasks along."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from projects.models import Project
from tasks.models import Task
from tests.helpers import TASKS_URL, TokenClient, assert_error, assert_field_error, page, task_url
from tests.projects.helpers import join, new_project
from tests.tasks.collaboration_helpers import (
    create,
    events_since,
    garden,
    label_rows,
    make_label,
    make_outsider,
    make_viewer,
    mark,
    patch,
    read,
    relate,
    row,
    snapshot,
    write,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(db: None) -> User:
    return make_viewer()


@pytest.fixture
def viewer_client(viewer: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(viewer)


@pytest.fixture
def project(member: User, other_member: User, viewer: User) -> Project:
    return garden(member, other_member, viewer)


@pytest.fixture
def orchard(member: User) -> Project:
    """Mia's second project; nobody else in it."""
    return new_project(member, "Orchard")


@pytest.fixture
def make(member_client: TokenClient, project: Project) -> Callable[..., dict[str, Any]]:
    """`make(title, parent=None, **fields)`: a task of Garden made by Mia."""

    def _make(title: str = "A task", parent: Any = None, **fields: Any) -> dict[str, Any]:
        if parent is not None:
            fields["parent"] = parent["id"] if isinstance(parent, dict) else parent
        return create(member_client, title=title, project=project.pk, **fields)

    return _make


@pytest.fixture
def chain(make: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """t1 <- t2 <- t3 <- t4 <- t5: five levels, t1 the top-level task."""
    tasks = [make("t1")]
    for level in range(2, 6):
        tasks.append(make(f"t{level}", parent=tasks[-1]))
    return tasks


def counts(task: Any) -> dict[str, int]:
    current = row(task)
    return {"total": current.subtasks_total, "completed": current.subtasks_completed}


def assert_parent_changed(parent: dict[str, Any], since: int, old: dict, new: dict) -> None:
    """The parent moved on by one version, with one `task.updated` saying so."""
    current = row(parent)
    assert {"total": current.subtasks_total, "completed": current.subtasks_completed} == new
    (event,) = events_since(since, subject=parent["id"])
    assert event.type == "task.updated"
    assert event.changes == {"subtasks": [old, new]}
    assert event.data["subtasks"] == new
    assert event.data["version"] == current.version


# --- parent on create and PATCH ------------------------------------------------------


def test_a_task_created_with_a_parent_is_its_subtask(member_client, make, member):
    parent = make("parent")
    since = mark()

    child = make("child", parent=parent)

    assert child["parent"] == parent["id"]
    assert child["subtasks"] == {"total": 0, "completed": 0}
    body = read(member_client, parent)
    assert body["subtasks"] == {"total": 1, "completed": 0}
    assert body["version"] == parent["version"] + 1
    assert_parent_changed(parent, since, {"total": 0, "completed": 0}, {"total": 1, "completed": 0})
    (created,) = events_since(since, type="task.created")
    assert created.data["parent"] == parent["id"]
    assert events_since(since, subject=parent["id"])[0].actor_id == member.pk


def test_patch_parent_nests_and_null_detaches(member_client, make):
    parent, task = make("parent"), make("task")

    nested = patch(member_client, task, parent=parent["id"])
    assert nested["parent"] == parent["id"]
    assert nested["version"] == task["version"] + 1
    assert counts(parent) == {"total": 1, "completed": 0}
    since = mark()

    detached = patch(member_client, task, parent=None)

    assert detached["parent"] is None
    assert row(task).parent_id is None
    assert_parent_changed(parent, since, {"total": 1, "completed": 0}, {"total": 0, "completed": 0})
    (event,) = events_since(since, subject=task["id"])
    assert event.changes == {"parent": [parent["id"], None]}


def test_patch_without_parent_keeps_it(member_client, make):
    parent = make("parent")
    child = make("child", parent=parent)
    before = row(parent).version

    assert patch(member_client, child, title="Renamed")["parent"] == parent["id"]
    # A change that is neither of parent nor of status leaves the parent alone.
    assert row(parent).version == before


def test_put_of_what_a_get_returned_keeps_the_parent(member_client, make):
    parent = make("parent")
    child = make("child", parent=parent)
    got = read(member_client, child)

    response = write(member_client, "put", task_url(child["id"]), {**got, "title": "Renamed"})

    assert response.status_code == 200, response.content
    assert response.json()["parent"] == parent["id"]
    assert counts(parent) == {"total": 1, "completed": 0}


# --- refused parents ------------------------------------------------------------------


@pytest.fixture
def elsewhere(member_client: TokenClient, orchard: Project) -> dict[str, Any]:
    """A task of Mia's other project."""
    return create(member_client, title="elsewhere", project=orchard.pk)


def test_a_parent_in_another_project_is_refused_on_create(member_client, project, elsewhere):
    before = snapshot()

    response = write(
        member_client,
        "post",
        TASKS_URL,
        {"title": "x", "project": project.pk, "parent": elsewhere["id"]},
    )

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_parent_in_another_project_is_refused_on_patch(member_client, make, elsewhere):
    task = make("task")
    before = snapshot()

    response = write(member_client, "patch", task_url(task["id"]), {"parent": elsewhere["id"]})

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_parent_the_caller_cannot_see_is_refused_without_naming_it(
    member_client, make, other_member
):
    hidden = Task.objects.create(
        project=new_project(other_member, "Otto's shed"), title="Hidden", owner=other_member
    )
    task = make("task")
    before = snapshot()

    response = write(member_client, "patch", task_url(task["id"]), {"parent": hidden.pk})

    error = assert_field_error(response, "parent")
    assert "Hidden" not in str(error) and "shed" not in str(error)
    assert snapshot() == before


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_unknown_parent_is_refused(member_client, make, project, method):
    task = make("task")
    before = snapshot()
    url = TASKS_URL if method == "post" else task_url(task["id"])

    response = write(
        member_client, method, url, {"title": "x", "project": project.pk, "parent": 10**9}
    )

    assert_field_error(response, "parent")
    assert snapshot() == before


@pytest.mark.parametrize("value", [0, -1, "abc", 1.5, [1], {"id": 1}])
def test_a_parent_that_is_not_an_id_is_refused(member_client, make, value):
    task = make("task")
    before = snapshot()

    response = write(member_client, "patch", task_url(task["id"]), {"parent": value})

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_task_cannot_be_its_own_parent(member_client, make):
    task = make("task")
    before = snapshot()

    response = write(member_client, "patch", task_url(task["id"]), {"parent": task["id"]})

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_task_cannot_go_under_its_own_subtask(member_client, make):
    a = make("a")
    b = make("b", parent=a)
    before = snapshot()

    response = write(member_client, "patch", task_url(a["id"]), {"parent": b["id"]})

    assert_field_error(response, "parent")
    assert snapshot() == before


@pytest.mark.parametrize(("top", "under"), [(0, 2), (0, 3), (0, 4), (1, 4), (2, 3)])
def test_a_task_cannot_go_under_a_deeper_descendant(member_client, chain, top, under):
    """t1 under t3, t4 or t5, t2 under t5, t3 under t4: each would close a loop."""
    before = snapshot()

    response = write(
        member_client, "patch", task_url(chain[top]["id"]), {"parent": chain[under]["id"]}
    )

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_viewer_may_not_set_a_parent(viewer_client, make):
    parent, task = make("parent"), make("task")
    before = snapshot()

    response = write(viewer_client, "patch", task_url(task["id"]), {"parent": parent["id"]})

    assert_error(response, 403, "permission_denied")
    assert snapshot() == before


# --- depth ----------------------------------------------------------------------------


def test_five_levels_are_allowed(member_client, chain):
    assert [read(member_client, t)["parent"] for t in chain] == [None] + [
        t["id"] for t in chain[:-1]
    ]
    assert [counts(t)["total"] for t in chain] == [1, 1, 1, 1, 0]


def test_a_sixth_level_is_refused_on_create(member_client, project, chain):
    before = snapshot()

    response = write(
        member_client,
        "post",
        TASKS_URL,
        {"title": "t6", "project": project.pk, "parent": chain[-1]["id"]},
    )

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_sixth_level_is_refused_on_patch(member_client, make, chain):
    task = make("t6")
    before = snapshot()

    response = write(member_client, "patch", task_url(task["id"]), {"parent": chain[-1]["id"]})

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_subtree_is_measured_whole_when_it_moves(member_client, make, chain):
    """x <- y (two levels): under t4 (depth 4) it would reach 6 levels; under t3, 5."""
    x = make("x")
    y = make("y", parent=x)
    before = snapshot()

    response = write(member_client, "patch", task_url(x["id"]), {"parent": chain[3]["id"]})

    assert_field_error(response, "parent")
    assert snapshot() == before

    moved = patch(member_client, x, parent=chain[2]["id"])

    assert moved["parent"] == chain[2]["id"]
    assert read(member_client, y)["parent"] == x["id"]
    assert counts(chain[2]) == {"total": 2, "completed": 0}


def test_a_chain_of_five_cannot_go_under_anything(member_client, make, chain):
    top = make("top")
    before = snapshot()

    response = write(member_client, "patch", task_url(chain[0]["id"]), {"parent": top["id"]})

    assert_field_error(response, "parent")
    assert snapshot() == before


# --- the parent's counts -----------------------------------------------------------------


def test_the_parents_counts_follow_each_change_of_its_children(member_client, make):
    parent, other_parent = make("parent"), make("other parent")

    since = mark()
    first = make("first", parent=parent)
    assert_parent_changed(parent, since, {"total": 0, "completed": 0}, {"total": 1, "completed": 0})

    since = mark()
    second = make("second", parent=parent, status="completed")
    assert_parent_changed(parent, since, {"total": 1, "completed": 0}, {"total": 2, "completed": 1})

    since = mark()
    patch(member_client, first, status="completed")
    assert_parent_changed(parent, since, {"total": 2, "completed": 1}, {"total": 2, "completed": 2})

    since = mark()
    patch(member_client, first, status="in_progress")
    assert_parent_changed(parent, since, {"total": 2, "completed": 2}, {"total": 2, "completed": 1})

    # From one open status to another: nothing for the parent.
    since = mark()
    patch(member_client, first, status="pending")
    assert events_since(since, subject=parent["id"]) == []

    # The completed one changes parents: both parents move on.
    since = mark()
    patch(member_client, second, parent=other_parent["id"])
    assert_parent_changed(parent, since, {"total": 2, "completed": 1}, {"total": 1, "completed": 0})
    assert_parent_changed(
        other_parent, since, {"total": 0, "completed": 0}, {"total": 1, "completed": 1}
    )

    since = mark()
    assert write(member_client, "delete", task_url(second["id"])).status_code == 204
    assert_parent_changed(
        other_parent, since, {"total": 1, "completed": 1}, {"total": 0, "completed": 0}
    )

    since = mark()
    assert write(member_client, "delete", task_url(first["id"])).status_code == 204
    assert_parent_changed(parent, since, {"total": 1, "completed": 0}, {"total": 0, "completed": 0})
    assert read(member_client, parent)["subtasks"] == {"total": 0, "completed": 0}


def test_reparenting_and_completing_at_once_counts_right(member_client, make):
    a, b = make("a"), make("b")
    child = make("child", parent=a)
    since = mark()

    patch(member_client, child, parent=b["id"], status="completed")

    assert_parent_changed(a, since, {"total": 1, "completed": 0}, {"total": 0, "completed": 0})
    assert_parent_changed(b, since, {"total": 0, "completed": 0}, {"total": 1, "completed": 1})


def test_only_direct_children_are_counted(member_client, chain):
    patch(member_client, chain[4], status="completed")

    assert counts(chain[3]) == {"total": 1, "completed": 1}
    assert counts(chain[2]) == {"total": 1, "completed": 0}
    assert read(member_client, chain[0])["subtasks"] == {"total": 1, "completed": 0}


def test_the_counts_are_read_in_the_list(member_client, make, project):
    parent = make("parent")
    make("a", parent=parent)
    make("b", parent=parent, status="completed")

    body = page(member_client.get(TASKS_URL, {"project": project.pk, "parent": "none"}))

    (listed,) = body["results"]
    assert listed["id"] == parent["id"]
    assert listed["subtasks"] == {"total": 2, "completed": 1}


def _build_rows(client: TokenClient, project: Project, count: int, *, nested: bool) -> None:
    """`count` top-level tasks; `nested`: each with a subtask (every other one
    completed), a label and a blocker (the rows' new fields all non-empty)."""
    label = make_label(project, "busy")
    for n in range(count):
        labels = [label.pk] if nested else []
        top = create(client, title=f"top {n}", project=project.pk, labels=labels)
        if nested:
            status = "completed" if n % 2 else "pending"
            child = create(
                client, title=f"child {n}", project=project.pk, parent=top["id"], status=status
            )
            relate(client, child, top)


@pytest.mark.parametrize(
    ("warm", "measured"),
    [
        # Not cached (`overdue` lists are never): the rows are read every time.
        ({"overdue": "false"}, {"overdue": "false"}),
        # Cached lists, measured on a miss (another ordering) after a first read.
        ({"ordering": "title"}, {"ordering": "-title"}),
    ],
)
def test_the_list_costs_no_query_per_subtask_label_or_blocker(
    member_client, member, warm, measured
):
    """20 tasks with subtasks, labels and blockers cost what 20 plain ones do, and
    what 2 with subtasks do."""
    scopes = {
        "plain": (new_project(member, "Plain"), 20, False),
        "nested": (new_project(member, "Nested"), 20, True),
        "few": (new_project(member, "Few"), 2, True),
    }
    for scope, count, nested in scopes.values():
        _build_rows(member_client, scope, count, nested=nested)
    cost = {}
    for name, (scope, count, nested) in scopes.items():
        params = {"project": scope.pk, "parent": "none", "limit": 100}
        assert member_client.get(TASKS_URL, {**params, **warm}).status_code == 200
        with CaptureQueriesContext(connection) as captured:
            body = page(member_client.get(TASKS_URL, {**params, **measured}))
        assert body["count"] == count
        cost[name] = len(captured)
        if nested:
            # The measured rows did hold what is being measured.
            rows = body["results"]
            assert all(t["subtasks"]["total"] == 1 and t["labels"] for t in rows)
            assert sum(t["blocked"] for t in rows) == count // 2

    assert cost["nested"] == cost["plain"] == cost["few"], cost


# --- ?parent= ---------------------------------------------------------------------------


@pytest.fixture
def family(make: Callable[..., dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """a (b (d), c), e: a and e top-level."""
    a = make("a")
    b = make("b", parent=a)
    c = make("c", parent=a)
    d = make("d", parent=b)
    e = make("e")
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def titles(client: TokenClient, **params: Any) -> tuple[list[str], int]:
    body = page(client.get(TASKS_URL, {"limit": 100, "ordering": "title", **params}))
    return [t["title"] for t in body["results"]], body["count"]


def test_parent_filter_lists_a_tasks_direct_subtasks(member_client, family):
    assert titles(member_client, parent=family["a"]["id"]) == (["b", "c"], 2)
    assert titles(member_client, parent=family["b"]["id"]) == (["d"], 1)
    assert titles(member_client, parent=family["d"]["id"]) == ([], 0)


def test_parent_none_lists_the_top_level_tasks(member_client, family):
    assert titles(member_client, parent="none") == (["a", "e"], 2)


def test_parent_filter_follows_changes(member_client, family):
    assert titles(member_client, parent="none") == (["a", "e"], 2)

    patch(member_client, family["c"], parent=None)
    patch(member_client, family["e"], parent=family["a"]["id"])

    assert titles(member_client, parent="none") == (["a", "c"], 2)
    assert titles(member_client, parent=family["a"]["id"]) == (["b", "e"], 2)


def test_parent_filter_of_a_task_the_caller_cannot_see_lists_nothing(client_for, family):
    outsider = client_for(make_outsider())

    assert titles(outsider, parent=family["a"]["id"]) == ([], 0)


@pytest.mark.parametrize(
    "value", ["", "abc", "None", "NONE", "-1", "1.5", " 5", "5 ", "1,2", "0x1"]
)
def test_a_parent_filter_that_is_neither_an_id_nor_none_is_a_400(member_client, family, value):
    assert_field_error(member_client.get(TASKS_URL, {"parent": value}), "parent")


def test_a_parent_filter_given_twice_is_a_400(member_client, family):
    response = member_client.get(f"{TASKS_URL}?parent=none&parent={family['a']['id']}")

    assert_error(response, 400, "validation_error")


# --- deleting a parent ---------------------------------------------------------------------


def test_deleting_a_parent_detaches_its_children_each_with_an_event(member_client, member, family):
    a, b, c, d = family["a"], family["b"], family["c"], family["d"]
    versions = {name: row(family[name]).version for name in "bcd"}
    since = mark()

    response = write(member_client, "delete", task_url(a["id"]))

    assert response.status_code == 204, response.content
    for child in (b, c):
        body = read(member_client, child)
        assert body["parent"] is None
        assert body["version"] == versions[child["title"]] + 1
        (event,) = events_since(since, subject=child["id"])
        assert event.type == "task.updated"
        assert event.changes == {"parent": [a["id"], None]}
        assert event.actor_id == member.pk
    # A grandchild stays under its own parent.
    assert read(member_client, d)["parent"] == b["id"]
    assert row(d).version == versions["d"]
    assert events_since(since, subject=d["id"]) == []
    assert counts(b) == {"total": 1, "completed": 0}
    assert titles(member_client, parent="none") == (["b", "c", "e"], 3)


def test_deleting_a_subtask_with_children_detaches_them_and_counts_one_less_above(
    member_client, family
):
    a, b, d = family["a"], family["b"], family["d"]
    since = mark()

    assert write(member_client, "delete", task_url(b["id"])).status_code == 204

    assert read(member_client, d)["parent"] is None
    assert_parent_changed(a, since, {"total": 2, "completed": 0}, {"total": 1, "completed": 0})


# --- moving to another project ---------------------------------------------------------------


def test_a_parent_moving_to_another_project_takes_every_level_of_subtasks(
    member_client, member, project, orchard, family
):
    red = make_label(project, "red")
    patch(member_client, family["d"], labels=[red.pk])
    since = mark()

    moved = patch(member_client, family["a"], project=orchard.pk)

    assert moved["project"] == orchard.pk
    for name in "abcd":
        task = family[name]
        body = read(member_client, task)
        assert body["project"] == orchard.pk, name
        events = events_since(since, subject=task["id"], type="task.updated")
        assert len(events) == 1, (name, [e.changes for e in events])
        (event,) = events
        assert event.changes["project"] == [project.pk, orchard.pk]
        assert event.project_id == orchard.pk
        assert event.previous_project_id == project.pk
    # The tree is the same; d left Garden's label behind.
    assert [read(member_client, family[n])["parent"] for n in "bcd"] == [
        family["a"]["id"],
        family["a"]["id"],
        family["b"]["id"],
    ]
    assert read(member_client, family["d"])["labels"] == []
    assert label_rows(family["d"]) == []
    assert titles(member_client, project=orchard.pk) == (["a", "b", "c", "d"], 4)
    assert titles(member_client, project=project.pk) == (["e"], 1)
    positions = [row(family[n]).position for n in "abcd"]
    assert len(set(positions)) == 4
    assert counts(family["a"]) == {"total": 2, "completed": 0}


def test_a_subtask_moving_leaves_its_parent_and_takes_its_own_subtasks(
    member_client, project, orchard, family
):
    a, b, c, d = family["a"], family["b"], family["c"], family["d"]
    since = mark()

    moved = patch(member_client, b, project=orchard.pk)

    assert moved["parent"] is None
    assert moved["project"] == orchard.pk
    assert moved["subtasks"] == {"total": 1, "completed": 0}
    assert_parent_changed(a, since, {"total": 2, "completed": 0}, {"total": 1, "completed": 0})
    below = read(member_client, d)
    assert (below["project"], below["parent"]) == (orchard.pk, b["id"])
    assert read(member_client, c)["project"] == project.pk
    assert titles(member_client, parent=a["id"]) == (["c"], 1)


def test_a_task_moving_with_a_parent_of_the_new_project_goes_under_it(
    member_client, orchard, family, elsewhere
):
    moved = patch(member_client, family["c"], project=orchard.pk, parent=elsewhere["id"])

    assert moved["parent"] == elsewhere["id"]
    assert counts(elsewhere) == {"total": 1, "completed": 0}
    assert counts(family["a"]) == {"total": 1, "completed": 0}


def test_a_task_moving_with_a_parent_of_the_project_it_leaves_is_refused(
    member_client, orchard, family
):
    before = snapshot()

    response = write(
        member_client,
        "patch",
        task_url(family["c"]["id"]),
        {"project": orchard.pk, "parent": family["e"]["id"]},
    )

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_task_moving_with_the_parent_it_has_is_refused(member_client, orchard, family):
    """Its parent stays in the project it leaves: repeating it is no parent there."""
    before = snapshot()

    response = write(
        member_client,
        "patch",
        task_url(family["c"]["id"]),
        {"project": orchard.pk, "parent": family["a"]["id"]},
    )

    assert_field_error(response, "parent")
    assert snapshot() == before


def test_a_put_moving_a_subtask_never_keeps_a_parent_in_the_old_project(
    member_client, orchard, family
):
    got = read(member_client, family["c"])
    before = snapshot()

    response = write(
        member_client, "put", task_url(family["c"]["id"]), {**got, "project": orchard.pk}
    )

    # Refused (the parent given is not Orchard's), or moved without it.
    if response.status_code == 200:
        assert response.json()["parent"] is None
        assert counts(family["a"]) == {"total": 1, "completed": 0}
    else:
        assert_field_error(response, "parent")
        assert snapshot() == before


@pytest.mark.parametrize("role", [None, "viewer"])
def test_a_subtask_assigned_to_someone_who_cannot_write_there_stops_the_move(
    member_client, other_member, orchard, family, role
):
    """Otto writes in Garden; in Orchard he is nobody, or a viewer."""
    if role is not None:
        join(orchard, other_member, role)
    patch(member_client, family["d"], assignee=other_member.pk)
    before = snapshot()

    response = write(member_client, "patch", task_url(family["a"]["id"]), {"project": orchard.pk})

    error = assert_field_error(response, "project")
    assert str(family["d"]["id"]) in " ".join(error["fields"]["project"])
    assert snapshot() == before
    assert titles(member_client, project=orchard.pk) == ([], 0)
