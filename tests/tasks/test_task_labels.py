"""Labels on tasks (issue 24): set on create and PATCH (the set replaces the task's,
sorted ids), only the project's labels, `?label=` (any of), a deleted label leaving
its tasks, and a task moving to another project leaving its labels behind."""

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from projects.models import Label, Project
from tests.helpers import TASKS_URL, TokenClient, assert_error, assert_field_error, page, task_url
from tests.projects.helpers import label_url, new_project
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
    row,
    snapshot,
    write,
)
from tests.tasks.helpers import STATS_URL

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
def orchard(member: User, other_member: User) -> Project:
    """Mia's second project, Otto a member of it too."""
    return new_project(member, "Orchard", (other_member, "member"))


@pytest.fixture
def red(project: Project) -> Label:
    return make_label(project, "red")


@pytest.fixture
def blue(project: Project) -> Label:
    return make_label(project, "blue")


@pytest.fixture
def green(project: Project) -> Label:
    return make_label(project, "green")


@pytest.fixture
def ripe(orchard: Project) -> Label:
    """A label of the other project."""
    return make_label(orchard, "ripe")


def labelled(client: Any, project: Project, *labels: Label, title: str = "A task") -> dict:
    return create(client, title=title, project=project.pk, labels=[x.pk for x in labels])


# --- create and PATCH -----------------------------------------------------------------


def test_labels_given_on_create_are_the_tasks_sorted_without_repeats(
    member_client, project, red, blue, green
):
    body = create(
        member_client, project=project.pk, labels=[green.pk, red.pk, green.pk, blue.pk, red.pk]
    )

    wanted = sorted([red.pk, blue.pk, green.pk])
    assert body["labels"] == wanted
    assert read(member_client, body["id"])["labels"] == wanted
    assert row(body["id"]).label_ids == wanted
    # The table `?label=` reads holds each label once.
    assert label_rows(body["id"]) == wanted


def test_a_task_created_without_labels_has_none(member_client, project, red):
    body = create(member_client, project=project.pk)

    assert body["labels"] == []
    assert label_rows(body["id"]) == []


def test_patch_labels_replaces_the_set_with_a_new_version_and_event(
    member_client, member, project, red, blue, green
):
    task = labelled(member_client, project, red, blue)
    since = mark()

    body = patch(member_client, task, labels=[green.pk, blue.pk, green.pk])

    assert body["labels"] == sorted([blue.pk, green.pk])
    assert body["version"] == task["version"] + 1
    assert label_rows(task) == sorted([blue.pk, green.pk])
    (event,) = events_since(since, subject=task["id"])
    assert event.type == "task.updated"
    assert event.actor_id == member.pk
    assert event.changes == {"labels": [sorted([red.pk, blue.pk]), sorted([blue.pk, green.pk])]}


def test_patch_with_an_empty_list_takes_every_label_off(member_client, project, red, blue):
    task = labelled(member_client, project, red, blue)

    body = patch(member_client, task, labels=[])

    assert body["labels"] == []
    assert label_rows(task) == []


def test_patch_with_the_same_labels_in_another_order_changes_nothing(
    member_client, project, red, blue
):
    task = labelled(member_client, project, red, blue)
    before = snapshot()

    body = patch(member_client, task, labels=[blue.pk, red.pk, blue.pk])

    assert body["labels"] == sorted([red.pk, blue.pk])
    assert body["version"] == task["version"]
    assert snapshot() == before


def test_patch_without_labels_keeps_them(member_client, project, red):
    task = labelled(member_client, project, red)

    body = patch(member_client, task, title="Renamed")

    assert body["labels"] == [red.pk]
    assert label_rows(task) == [red.pk]


def test_put_of_what_a_get_returned_keeps_the_labels(member_client, project, red, blue):
    task = labelled(member_client, project, red, blue)
    got = read(member_client, task)

    response = write(member_client, "put", task_url(task["id"]), {**got, "title": "Renamed"})

    assert response.status_code == 200, response.content
    assert response.json()["labels"] == sorted([red.pk, blue.pk])
    assert label_rows(task) == sorted([red.pk, blue.pk])


# --- refused labels -------------------------------------------------------------------


def test_a_label_of_another_project_is_refused_on_create(member_client, project, red, ripe):
    before = snapshot()

    response = write(
        member_client,
        "post",
        TASKS_URL,
        {"title": "x", "project": project.pk, "labels": [red.pk, ripe.pk]},
    )

    error = assert_field_error(response, "labels")
    assert str(ripe.pk) in " ".join(error["fields"]["labels"])
    assert snapshot() == before


def test_a_label_of_another_project_is_refused_on_patch(member_client, project, red, ripe):
    task = labelled(member_client, project, red)
    before = snapshot()

    response = write(member_client, "patch", task_url(task["id"]), {"labels": [ripe.pk]})

    assert_field_error(response, "labels")
    assert snapshot() == before
    assert read(member_client, task)["labels"] == [red.pk]


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_unknown_label_id_is_refused(member_client, project, red, method):
    task = labelled(member_client, project, red)
    before = snapshot()
    unknown = Label.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    url = TASKS_URL if method == "post" else task_url(task["id"])

    response = write(
        member_client,
        method,
        url,
        {"title": "x", "project": project.pk, "labels": [red.pk, unknown]},
    )

    error = assert_field_error(response, "labels")
    assert str(unknown) in " ".join(error["fields"]["labels"])
    assert snapshot() == before


@pytest.mark.parametrize("value", ["red", [0], [-1], [None], "1,2", [[1]]])
def test_labels_that_are_not_a_list_of_ids_are_refused(member_client, project, red, value):
    task = labelled(member_client, project, red)
    before = snapshot()

    response = write(member_client, "patch", task_url(task["id"]), {"labels": value})

    assert_field_error(response, "labels")
    assert snapshot() == before


def test_a_viewer_may_not_change_the_labels(viewer_client, member_client, project, red, blue):
    task = labelled(member_client, project, red)
    before = snapshot()

    response = write(viewer_client, "patch", task_url(task["id"]), {"labels": [blue.pk]})

    assert_error(response, 403, "permission_denied")
    assert snapshot() == before


def test_a_viewer_may_not_create_a_labelled_task(viewer_client, project, red):
    before = snapshot()

    response = write(
        viewer_client, "post", TASKS_URL, {"title": "x", "project": project.pk, "labels": [red.pk]}
    )

    assert_error(response, 403, "permission_denied")
    assert snapshot() == before


def test_an_outsider_cannot_use_the_projects_labels_on_his_own_task(client_for, project, red):
    outsider = client_for(make_outsider())
    before = snapshot()

    response = write(outsider, "post", TASKS_URL, {"title": "x", "labels": [red.pk]})

    # His personal project has no such label; the message names no other project.
    error = assert_field_error(response, "labels")
    assert "Garden" not in str(error)
    assert snapshot() == before


# --- ?label= ---------------------------------------------------------------------------


@pytest.fixture
def labelled_tasks(member_client, project, orchard, red, blue, green, ripe):
    """a red, b blue, c red and blue, d green, e none, f (Orchard) ripe."""
    return {
        "a": labelled(member_client, project, red, title="a"),
        "b": labelled(member_client, project, blue, title="b"),
        "c": labelled(member_client, project, red, blue, title="c"),
        "d": labelled(member_client, project, green, title="d"),
        "e": labelled(member_client, project, title="e"),
        "f": labelled(member_client, orchard, ripe, title="f"),
    }


def listed(client: Any, **params: Any) -> tuple[list[str], int]:
    body = page(client.get(TASKS_URL, {"limit": 100, "ordering": "title", **params}))
    return [task["title"] for task in body["results"]], body["count"]


@pytest.mark.parametrize(
    ("labels", "titles"),
    [
        (["red"], ["a", "c"]),
        (["blue"], ["b", "c"]),
        (["red", "blue"], ["a", "b", "c"]),
        (["red", "blue", "green"], ["a", "b", "c", "d"]),
        (["ripe"], ["f"]),
        (["ripe", "green"], ["d", "f"]),
    ],
)
def test_label_filter_lists_the_tasks_with_any_of_the_labels_once(
    member_client, labelled_tasks, labels, titles, request
):
    ids = [str(request.getfixturevalue(name).pk) for name in labels]

    assert listed(member_client, label=",".join(ids)) == (titles, len(titles))
    # The same as repeated parameters, and in any order.
    assert listed(member_client, label=list(reversed(ids))) == (titles, len(titles))


def test_label_filter_counts_a_task_with_two_of_the_labels_once_across_pages(
    member_client, labelled_tasks, red, blue
):
    ids = f"{red.pk},{blue.pk}"
    first = page(member_client.get(TASKS_URL, {"label": ids, "limit": 2, "ordering": "title"}))
    second = page(
        member_client.get(TASKS_URL, {"label": ids, "limit": 2, "offset": 2, "ordering": "title"})
    )

    assert first["count"] == second["count"] == 3
    titles = [task["title"] for task in first["results"] + second["results"]]
    assert titles == ["a", "b", "c"]


def test_label_filter_with_a_label_nobody_has_lists_nothing(member_client, labelled_tasks):
    unknown = Label.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000

    assert listed(member_client, label=str(unknown)) == ([], 0)


def test_label_filter_shows_only_visible_tasks(
    member_client, other_member_client, labelled_tasks, other_member, red
):
    # Otto's personal project with a label of its own; Mia sees none of it.
    own = make_label(new_project(other_member, "Otto's shed"), "rusty", actor=other_member)
    shed = own.project
    create(other_member_client, title="o", project=shed.pk, labels=[own.pk])

    assert listed(member_client, label=f"{red.pk},{own.pk}") == (["a", "c"], 2)
    assert listed(other_member_client, label=f"{red.pk},{own.pk}") == (["a", "c", "o"], 3)


@pytest.mark.parametrize("value", ["", "red", "1.5", "-1", "1,x", "99999999999999999999"])
def test_a_label_filter_that_is_not_ids_is_a_400(member_client, labelled_tasks, value):
    assert_field_error(member_client.get(TASKS_URL, {"label": value}), "label")


def test_label_filter_follows_changes_of_the_labels(member_client, labelled_tasks, red, green):
    # Read once, so that a stale cached list would show.
    assert listed(member_client, label=str(red.pk)) == (["a", "c"], 2)

    patch(member_client, labelled_tasks["d"], labels=[green.pk, red.pk])
    patch(member_client, labelled_tasks["a"], labels=[])

    assert listed(member_client, label=str(red.pk)) == (["c", "d"], 2)


# --- deleting a label ------------------------------------------------------------------


def test_deleting_a_label_takes_it_off_its_tasks_each_with_a_version_and_event(
    member_client, member, labelled_tasks, red, blue
):
    a, b, c = labelled_tasks["a"], labelled_tasks["b"], labelled_tasks["c"]
    etags = {}
    for name in "abc":
        got = member_client.get(task_url(labelled_tasks[name]["id"]))
        etags[name] = got["ETag"]
    # Cached now: the list must not keep showing the deleted label.
    assert listed(member_client, label=str(red.pk)) == (["a", "c"], 2)
    since = mark()

    response = write(member_client, "delete", label_url(red))

    assert response.status_code == 204, response.content
    assert read(member_client, a)["labels"] == []
    assert read(member_client, c)["labels"] == [blue.pk]
    assert label_rows(a) == []
    assert label_rows(c) == [blue.pk]
    assert row(a).version == a["version"] + 1
    assert row(c).version == c["version"] + 1
    # b never had it: untouched.
    assert row(b).version == b["version"]
    assert events_since(since, subject=b["id"]) == []
    for task, old in ((a, [red.pk]), (c, sorted([red.pk, blue.pk]))):
        (event,) = events_since(since, type="task.updated", subject=task["id"])
        new = [pk for pk in old if pk != red.pk]
        assert event.changes == {"labels": [old, new]}
        assert event.actor_id == member.pk
        assert event.data["labels"] == new
        assert event.data["version"] == task["version"] + 1
    # A client holding the old ETag gets the new task, not a 304.
    for name in "ac":
        again = member_client.get(
            task_url(labelled_tasks[name]["id"]), HTTP_IF_NONE_MATCH=etags[name]
        )
        assert again.status_code == 200, again.content
        assert again["ETag"] != etags[name]
    unchanged = member_client.get(task_url(b["id"]), HTTP_IF_NONE_MATCH=etags["b"])
    assert unchanged.status_code == 304
    assert listed(member_client, label=str(red.pk)) == ([], 0)
    assert listed(member_client, label=str(blue.pk)) == (["b", "c"], 2)


def test_deleting_a_label_nobody_carries_touches_no_task(member_client, labelled_tasks, project):
    spare = make_label(project, "spare")
    before = snapshot()["tasks"]

    response = write(member_client, "delete", label_url(spare))

    assert response.status_code == 204, response.content
    assert snapshot()["tasks"] == before


def test_a_viewer_may_not_delete_a_label_and_its_tasks_keep_it(viewer_client, labelled_tasks, red):
    before = snapshot()

    response = write(viewer_client, "delete", label_url(red))

    assert response.status_code == 403, response.content
    assert snapshot() == before


# --- moving a task to another project ---------------------------------------------------


def test_a_task_moving_to_another_project_leaves_its_labels(
    member_client, project, orchard, red, blue
):
    task = labelled(member_client, project, red, blue)
    since = mark()

    body = patch(member_client, task, project=orchard.pk)

    assert body["project"] == orchard.pk
    assert body["labels"] == []
    assert label_rows(task) == []
    (event,) = events_since(since, subject=task["id"])
    assert event.changes["labels"] == [sorted([red.pk, blue.pk]), []]
    assert event.changes["project"] == [project.pk, orchard.pk]
    assert listed(member_client, label=str(red.pk)) == ([], 0)


def test_a_task_moving_with_labels_of_the_new_project_takes_those(
    member_client, project, orchard, red, ripe
):
    task = labelled(member_client, project, red)

    body = patch(member_client, task, project=orchard.pk, labels=[ripe.pk])

    assert body["labels"] == [ripe.pk]
    assert label_rows(task) == [ripe.pk]
    assert listed(member_client, label=str(ripe.pk)) == (["A task"], 1)


def test_a_task_moving_with_labels_of_the_project_it_leaves_is_refused(
    member_client, project, orchard, red, blue
):
    task = labelled(member_client, project, red)
    before = snapshot()

    response = write(
        member_client, "patch", task_url(task["id"]), {"project": orchard.pk, "labels": [blue.pk]}
    )

    assert_field_error(response, "labels")
    assert snapshot() == before


def test_a_task_moving_with_the_labels_it_has_is_refused(member_client, project, orchard, red):
    """Its labels are the old project's: repeating them moves none along."""
    task = labelled(member_client, project, red)
    before = snapshot()

    response = write(
        member_client, "patch", task_url(task["id"]), {"project": orchard.pk, "labels": [red.pk]}
    )

    assert_field_error(response, "labels")
    assert snapshot() == before


def test_a_put_moving_a_task_never_keeps_the_old_projects_labels(
    member_client, project, orchard, red
):
    task = labelled(member_client, project, red)
    got = read(member_client, task)
    before = snapshot()

    response = write(member_client, "put", task_url(task["id"]), {**got, "project": orchard.pk})

    # Refused (the labels given are not Orchard's), or moved without them.
    if response.status_code == 200:
        assert response.json()["labels"] == []
        assert label_rows(task) == []
    else:
        assert_field_error(response, "labels")
        assert snapshot() == before


def test_statistics_count_by_label_as_the_list_does(member_client, labelled_tasks, red, blue):
    ids = f"{red.pk},{blue.pk}"
    stats = member_client.get(STATS_URL, {"label": ids})

    assert stats.status_code == 200, stats.content
    assert stats.json()["total"] == page(member_client.get(TASKS_URL, {"label": ids}))["count"] == 3
