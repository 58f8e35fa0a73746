"""The list's filters of issue 24 (`?label=`, `?parent=`, `?blocked=`) with the
older ones, on the list and on GET tasks/statistics/: the statistics take every
list filter and count what the list counts; an unknown parameter is still a 400."""

from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from accounts.models import User
from projects.models import Label, Project
from tests.helpers import TASKS_URL, TokenClient, assert_field_error, page, task_url
from tests.projects.helpers import archive, label_url, new_project
from tests.tasks.collaboration_helpers import (
    create,
    garden,
    make_label,
    make_viewer,
    patch,
    relate,
    write,
)
from tests.tasks.helpers import STATS_URL, iso

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(db: None) -> User:
    return make_viewer()


@pytest.fixture
def project(member: User, other_member: User, viewer: User) -> Project:
    return garden(member, other_member, viewer)


@pytest.fixture
def red(project: Project) -> Label:
    return make_label(project, "red")


@pytest.fixture
def blue(project: Project) -> Label:
    return make_label(project, "blue")


@pytest.fixture
def known(
    member_client: TokenClient,
    other_member_client: TokenClient,
    member: User,
    other_member: User,
    project: Project,
    red: Label,
    blue: Label,
    past: datetime,
    future: datetime,
) -> dict[str, Any]:
    """Garden (Mia and Otto see it):

    p1 Plan beds      pending      high    red        due in the past (overdue)
    p2 Dig soil       completed    medium  blue       subtask of p1
    p3 Buy seeds      in_progress  low     red, blue  subtask of p1, Otto's, due later
    p4 Water plants   pending      medium             blocked by p3
    p5 Prune roses    completed    high               blocks p6 (but is completed)
    p6 Mow lawn       pending      low                blocked by p1

    Otto's shed (Mia does not see it): s1 Sharpen tools (pending, high, label
    rusty) blocked by s2 Oil hinges (pending, low, subtask of s1).
    Mia's archived Orchard: o1 Pick apples (pending, high), blocked by p1.
    """
    p1 = create(
        member_client,
        title="Plan beds",
        project=project.pk,
        priority="high",
        labels=[red.pk],
        due_date=iso(past),
    )
    p2 = create(
        member_client,
        title="Dig soil",
        project=project.pk,
        status="completed",
        labels=[blue.pk],
        parent=p1["id"],
    )
    p3 = create(
        member_client,
        title="Buy seeds",
        project=project.pk,
        status="in_progress",
        priority="low",
        labels=[red.pk, blue.pk],
        parent=p1["id"],
        assignee=other_member.pk,
        due_date=iso(future),
    )
    p4 = create(member_client, title="Water plants", project=project.pk)
    p5 = create(
        member_client, title="Prune roses", project=project.pk, status="completed", priority="high"
    )
    p6 = create(member_client, title="Mow lawn", project=project.pk, priority="low")
    relate(member_client, p3, p4)
    relate(member_client, p5, p6)
    relate(member_client, p1, p6)

    shed = new_project(other_member, "Otto's shed")
    rusty = make_label(shed, "rusty", actor=other_member)
    s1 = create(
        other_member_client,
        title="Sharpen tools",
        project=shed.pk,
        priority="high",
        labels=[rusty.pk],
    )
    s2 = create(
        other_member_client, title="Oil hinges", project=shed.pk, priority="low", parent=s1["id"]
    )
    relate(other_member_client, s2, s1)

    orchard = new_project(member, "Orchard")
    o1 = create(member_client, title="Pick apples", project=orchard.pk, priority="high")
    relate(member_client, p1, o1)
    archive(orchard)
    return {
        **{"p1": p1, "p2": p2, "p3": p3, "p4": p4, "p5": p5, "p6": p6},
        **{"s1": s1, "s2": s2, "o1": o1},
        "rusty": rusty,
        "orchard": orchard,
        "otto": other_member,
    }


TASK_NAMES = ("p1", "p2", "p3", "p4", "p5", "p6", "s1", "s2", "o1")


def resolve(params: dict[str, Any], known: dict[str, Any], red: Label, blue: Label) -> dict:
    """Names in the parameters (`p1`, `red`, `orchard`...) as ids."""
    names = {
        "red": red.pk,
        "blue": blue.pk,
        "rusty": known["rusty"].pk,
        "otto": known["otto"].pk,
        "orchard": known["orchard"].pk,
        **{name: known[name]["id"] for name in TASK_NAMES},
    }

    def one(value: str) -> str:
        return ",".join(str(names.get(part, part)) for part in value.split(","))

    return {key: one(value) for key, value in params.items()}


def listed(client: TokenClient, params: dict[str, Any]) -> dict[str, Any]:
    return page(client.get(TASKS_URL, {**params, "limit": 100, "ordering": "title"}))


def figures(client: TokenClient, params: dict[str, Any]) -> dict[str, Any]:
    response = client.get(STATS_URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def figures_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the statistics say of exactly these tasks (overdue and rate aside)."""
    statuses = Counter(task["status"] for task in results)
    priorities = Counter(task["priority"] for task in results)
    return {
        "total": len(results),
        "by_status": {s: statuses[s] for s in ("pending", "in_progress", "completed")},
        "by_priority": {p: priorities[p] for p in ("low", "medium", "high")},
    }


CASES = [
    ({}, ["Buy seeds", "Dig soil", "Mow lawn", "Plan beds", "Prune roses", "Water plants"]),
    ({"label": "red"}, ["Buy seeds", "Plan beds"]),
    ({"label": "red,blue"}, ["Buy seeds", "Dig soil", "Plan beds"]),
    ({"label": "rusty"}, []),
    ({"parent": "none"}, ["Mow lawn", "Plan beds", "Prune roses", "Water plants"]),
    ({"parent": "p1"}, ["Buy seeds", "Dig soil"]),
    ({"parent": "p3"}, []),
    ({"blocked": "true"}, ["Mow lawn", "Water plants"]),
    ({"blocked": "false"}, ["Buy seeds", "Dig soil", "Plan beds", "Prune roses"]),
    ({"status": "pending"}, ["Mow lawn", "Plan beds", "Water plants"]),
    (
        {"status": "pending,completed"},
        ["Dig soil", "Mow lawn", "Plan beds", "Prune roses", "Water plants"],
    ),
    ({"priority": "high"}, ["Plan beds", "Prune roses"]),
    ({"search": "seeds"}, ["Buy seeds"]),
    ({"assignee": "otto"}, ["Buy seeds"]),
    ({"overdue": "true"}, ["Plan beds"]),
    ({"overdue": "false"}, ["Buy seeds", "Dig soil", "Mow lawn", "Prune roses", "Water plants"]),
    ({"include_archived": "true", "blocked": "true"}, ["Mow lawn", "Pick apples", "Water plants"]),
    ({"project": "orchard", "include_archived": "true"}, ["Pick apples"]),
    ({"project": "orchard"}, []),
    ({"label": "red", "blocked": "false", "parent": "none"}, ["Plan beds"]),
    ({"parent": "none", "blocked": "true", "priority": "low"}, ["Mow lawn"]),
    ({"label": "red,blue", "status": "completed"}, ["Dig soil"]),
    ({"parent": "p1", "assignee": "otto", "label": "blue"}, ["Buy seeds"]),
    ({"parent": "none", "search": "plants"}, ["Water plants"]),
]


@pytest.mark.parametrize(("params", "titles"), CASES)
def test_the_list_and_the_statistics_count_the_same_tasks(
    member_client, known, red, blue, params, titles
):
    params = resolve(params, known, red, blue)

    body = listed(member_client, params)
    stats = figures(member_client, params)

    assert [task["title"] for task in body["results"]] == titles
    assert body["count"] == len(titles)
    assert {key: stats[key] for key in ("total", "by_status", "by_priority")} == figures_of(
        body["results"]
    )


def test_due_date_ranges_count_the_same_on_both(member_client, known, red, blue, now):
    for params, titles in (
        ({"due_before": iso(now)}, ["Plan beds"]),
        ({"due_after": iso(now)}, ["Buy seeds"]),
        (
            {"due_after": iso(now), "label": str(red.pk), "parent": str(known["p1"]["id"])},
            ["Buy seeds"],
        ),
    ):
        body = listed(member_client, params)
        assert [task["title"] for task in body["results"]] == titles
        assert figures(member_client, params)["total"] == body["count"] == len(titles)


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({}, 8),
        ({"label": "rusty,red"}, 3),
        ({"blocked": "true"}, 3),
        ({"parent": "none"}, 5),
        ({"parent": "s1"}, 1),
        ({"parent": "none", "blocked": "true", "priority": "high"}, 1),
    ],
)
def test_another_reader_counts_what_he_sees_on_both(
    other_member_client, known, red, blue, params, count
):
    params = resolve(params, known, red, blue)

    body = listed(other_member_client, params)
    stats = figures(other_member_client, params)

    assert body["count"] == stats["total"] == count
    assert {key: stats[key] for key in ("total", "by_status", "by_priority")} == figures_of(
        body["results"]
    )


def test_the_statistics_follow_changes_under_the_new_filters(member_client, known, red, blue):
    """Read (and cached) before each change, read again after it."""
    blocked = {"blocked": "true"}
    labelled = {"label": str(red.pk)}
    children = {"parent": str(known["p1"]["id"])}
    assert figures(member_client, blocked)["total"] == 2
    assert figures(member_client, labelled)["total"] == 2
    assert figures(member_client, children)["total"] == 2

    # Completing p3 unblocks p4; p1 (open) still blocks p6.
    patch(member_client, known["p3"], status="completed")
    assert figures(member_client, blocked)["total"] == 1
    assert listed(member_client, blocked)["count"] == 1

    assert write(member_client, "delete", label_url(red)).status_code == 204
    assert figures(member_client, labelled)["total"] == 0
    assert listed(member_client, labelled)["count"] == 0

    assert write(member_client, "delete", task_url(known["p2"]["id"])).status_code == 204
    stats = figures(member_client, children)
    assert stats["total"] == 1
    assert stats["by_status"] == {"pending": 0, "in_progress": 0, "completed": 1}


@pytest.mark.parametrize("url", [STATS_URL, TASKS_URL])
@pytest.mark.parametrize("name", ["labels", "parent_id", "blocked_by", "subtasks", "relations"])
def test_an_unknown_parameter_is_still_a_400(member_client, known, url, name):
    response = member_client.get(url, {name: "1"})

    error = assert_field_error(response, name)
    assert error["fields"][name] == ["Unknown query parameter."]


@pytest.mark.parametrize("url", [STATS_URL, TASKS_URL])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("label", "red"),
        ("label", ""),
        ("parent", "abc"),
        ("parent", ""),
        ("blocked", "maybe"),
        ("blocked", ""),
    ],
)
def test_a_bad_value_of_a_new_filter_is_a_400_on_both(member_client, known, url, name, value):
    assert_field_error(member_client.get(url, {name: value}), name)


@pytest.mark.parametrize("name", ["parent", "blocked"])
def test_a_one_value_filter_given_twice_is_a_400_on_both(member_client, known, name):
    value = {"parent": "none", "blocked": "true"}[name]
    for url in (STATS_URL, TASKS_URL):
        assert_field_error(member_client.get(f"{url}?{name}={value}&{name}={value}"), name)


def test_the_label_filter_takes_repeated_parameters_on_both(member_client, known, red, blue):
    query = f"label={red.pk}&label={blue.pk}"

    assert page(member_client.get(f"{TASKS_URL}?{query}"))["count"] == 3
    assert member_client.get(f"{STATS_URL}?{query}").json()["total"] == 3
