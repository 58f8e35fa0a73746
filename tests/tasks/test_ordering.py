"""ordering= on GET tasks/: each allowed field both ways; priority by rank, not by name."""

from datetime import timedelta

import pytest

from tasks.services import task_update
from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, assert_field_error, page
from tests.tasks.helpers import list_ids

pytestmark = pytest.mark.django_db


def ordered(client, ordering):
    return list_ids(client, {"ordering": ordering})


def test_default_order_is_newest_first(member_client, member):
    tasks = [TaskFactory(owner=member, title=f"t{n}") for n in range(4)]

    assert list_ids(member_client) == [task.pk for task in reversed(tasks)]


@pytest.mark.parametrize(("ordering", "reverse"), [("created_at", False), ("-created_at", True)])
def test_ordering_by_created_at(member_client, member, ordering, reverse):
    tasks = [TaskFactory(owner=member, title=f"t{n}") for n in range(4)]
    expected = [task.pk for task in tasks]

    assert ordered(member_client, ordering) == (expected[::-1] if reverse else expected)


@pytest.mark.parametrize(("ordering", "reverse"), [("updated_at", False), ("-updated_at", True)])
def test_ordering_by_updated_at_follows_the_last_change_not_creation(
    member_client, member, ordering, reverse
):
    first, second, third = (TaskFactory(owner=member, title=f"t{n}") for n in range(3))
    # Touched in the order second, third, first: not the creation order.
    for task in (second, third, first):
        task_update(actor=member, task_id=task.pk, data={"description": "touched"})
    expected = [second.pk, third.pk, first.pk]

    assert ordered(member_client, ordering) == (expected[::-1] if reverse else expected)


@pytest.mark.parametrize(("ordering", "reverse"), [("due_date", False), ("-due_date", True)])
def test_ordering_by_due_date(member_client, member, now, ordering, reverse):
    late = TaskFactory(owner=member, title="late", due_date=now + timedelta(days=9))
    early = TaskFactory(owner=member, title="early", due_date=now + timedelta(days=1))
    middle = TaskFactory(owner=member, title="middle", due_date=now + timedelta(days=4))
    expected = [early.pk, middle.pk, late.pk]

    assert ordered(member_client, ordering) == (expected[::-1] if reverse else expected)


@pytest.mark.parametrize("ordering", ["due_date", "-due_date"])
def test_tasks_without_a_due_date_come_last_in_both_directions(
    member_client, member, now, ordering
):
    undated_old = TaskFactory(owner=member, title="undated old", due_date=None)
    early = TaskFactory(owner=member, title="early", due_date=now + timedelta(days=1))
    undated_new = TaskFactory(owner=member, title="undated new", due_date=None)
    late = TaskFactory(owner=member, title="late", due_date=now + timedelta(days=9))
    dated = [early.pk, late.pk] if ordering == "due_date" else [late.pk, early.pk]

    # Ties (no due date) newest first, by the id.
    assert ordered(member_client, ordering) == [*dated, undated_new.pk, undated_old.pk]


@pytest.mark.parametrize("ordering", ["due_date", "-due_date"])
def test_ordering_by_due_date_pages_through_undated_tasks_without_repeats(
    member_client, member, now, ordering
):
    tasks = [
        TaskFactory(owner=member, title=f"t{n}", due_date=None if n % 2 else now + timedelta(n))
        for n in range(7)
    ]
    results = [
        item
        for offset in (0, 3, 6)
        for item in page(
            member_client.get(TASKS_URL, {"ordering": ordering, "limit": 3, "offset": offset})
        )["results"]
    ]

    assert sorted(item["id"] for item in results) == sorted(task.pk for task in tasks)
    assert [item["due_date"] is None for item in results] == [False] * 4 + [True] * 3


@pytest.mark.parametrize(("ordering", "reverse"), [("title", False), ("-title", True)])
def test_ordering_by_title(member_client, member, ordering, reverse):
    banana = TaskFactory(owner=member, title="banana")
    cherry = TaskFactory(owner=member, title="cherry")
    apple = TaskFactory(owner=member, title="apple")
    expected = [apple.pk, banana.pk, cherry.pk]

    assert ordered(member_client, ordering) == (expected[::-1] if reverse else expected)


def test_ordering_by_priority_ranks_low_medium_high_not_alphabetically(member_client, member):
    # Alphabetically it would be high, low, medium.
    medium = TaskFactory(owner=member, title="m", priority="medium")
    high = TaskFactory(owner=member, title="h", priority="high")
    low = TaskFactory(owner=member, title="l", priority="low")

    assert ordered(member_client, "priority") == [low.pk, medium.pk, high.pk]


def test_ordering_by_descending_priority_ranks_high_medium_low(member_client, member):
    # Reverse-alphabetically it would be medium, low, high.
    low = TaskFactory(owner=member, title="l", priority="low")
    high = TaskFactory(owner=member, title="h", priority="high")
    medium = TaskFactory(owner=member, title="m", priority="medium")

    assert ordered(member_client, "-priority") == [high.pk, medium.pk, low.pk]


def test_ordering_by_priority_groups_every_task_of_a_rank(member_client, member):
    made = [
        TaskFactory(owner=member, title=f"{priority}{n}", priority=priority)
        for n in range(2)
        for priority in ("high", "low", "medium")
    ]

    priorities = [
        item["priority"]
        for item in member_client.get(TASKS_URL, {"ordering": "priority"}).json()["results"]
    ]

    assert len(made) == 6
    assert priorities == ["low", "low", "medium", "medium", "high", "high"]


def test_ordering_applies_after_filters_and_visibility(
    member_client, member, other_member, manager
):
    TaskFactory(owner=other_member, title="aaa hidden", priority="low")
    b = TaskFactory(owner=member, title="bbb", priority="high")
    c = TaskFactory(owner=manager, title="ccc", priority="low", assignee=member)
    TaskFactory(owner=member, title="ddd", priority="medium", status="completed")

    result = list_ids(member_client, {"ordering": "-title", "status": "pending"})

    assert result == [c.pk, b.pk]


def test_ordering_by_priority_is_also_paginated_in_rank_order(member_client, member):
    TaskFactory(owner=member, title="h", priority="high")
    TaskFactory(owner=member, title="m", priority="medium")
    TaskFactory(owner=member, title="l", priority="low")

    first = member_client.get(TASKS_URL, {"ordering": "priority", "limit": 2}).json()
    second = member_client.get(TASKS_URL, {"ordering": "priority", "limit": 2, "offset": 2}).json()

    assert [item["priority"] for item in first["results"]] == ["low", "medium"]
    assert [item["priority"] for item in second["results"]] == ["high"]


@pytest.mark.parametrize("ordering", ["owner", "description", "-assignee", "version", "nonsense"])
def test_ordering_by_a_field_that_is_not_allowed_is_400_naming_ordering(
    member_client, member, ordering
):
    TaskFactory(owner=member)

    assert_field_error(member_client.get(TASKS_URL, {"ordering": ordering}), "ordering")


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (["-priority", "title"], "bcad"),
        (["-priority,title"], "bcad"),
        (["-priority", "title,-created_at"], "bcad"),
        (["title", "-priority"], "abcd"),
    ],
    ids=["repeated", "comma-separated", "mixed", "title-first"],
)
def test_several_orderings_apply_in_the_order_given(member_client, member, ordering, expected):
    # `?ordering=-priority&ordering=title` is how generated clients send a list; the
    # last one alone used to count.
    tasks = {
        title: TaskFactory(owner=member, title=title, priority=priority).pk
        for title, priority in [("a", "low"), ("b", "high"), ("c", "high"), ("d", "low")]
    }

    assert ordered(member_client, ordering) == [tasks[title] for title in expected]


def test_a_repeated_ordering_is_checked_in_every_value(member_client, member):
    TaskFactory(owner=member)

    response = member_client.get(TASKS_URL, {"ordering": ["owner", "title"]})

    assert_field_error(response, "ordering")
