"""Filters on GET tasks/: each narrows the visible tasks; a bad value is 400 naming it."""

from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.factories import TaskFactory
from tests.helpers import assert_field_error
from tests.tasks.helpers import iso, list_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(member, other_member, manager, now):
    """Four of Mia's tasks and one she cannot see (it would match most filters).

    a: pending, high, due two days ago (overdue), "quarterly" in the title
    b: in_progress, low, due in three days, assigned to Otto, "invoices" in the description
    c: completed, medium, due five days ago (not overdue: completed), assigned to the manager
    d: pending, medium, no due date, assigned to Otto, "quarterly" in the description
    """
    now = now.replace(microsecond=0)
    a = TaskFactory(
        owner=member,
        title="Quarterly report draft",
        description="Numbers for the board",
        status="pending",
        priority="high",
        due_date=now - timedelta(days=2),
    )
    b = TaskFactory(
        owner=member,
        title="Buy groceries",
        description="Remember the invoices folder",
        status="in_progress",
        priority="low",
        due_date=now + timedelta(days=3),
        assignee=other_member,
    )
    c = TaskFactory(
        owner=member,
        title="Call the plumber",
        description="Kitchen sink",
        status="completed",
        priority="medium",
        due_date=now - timedelta(days=5),
        assignee=manager,
    )
    d = TaskFactory(
        owner=member,
        title="Read a book",
        description="And the quarterly magazine",
        status="pending",
        priority="medium",
        assignee=other_member,
    )
    hidden = TaskFactory(
        owner=manager,
        title="Quarterly invoices audit",
        description="Quarterly invoices",
        status="pending",
        priority="high",
        due_date=now - timedelta(days=2),
        assignee=other_member,
    )
    return SimpleNamespace(a=a, b=b, c=c, d=d, hidden=hidden)


def ids(*tasks):
    return {task.pk for task in tasks}


def filtered(client, query):
    """The set of ids for a query string (so repeated parameters stay repeated)."""
    return set(list_ids(client, query))


def test_without_filters_the_member_sees_her_four_tasks(member_client, tasks):
    assert filtered(member_client, {}) == ids(tasks.a, tasks.b, tasks.c, tasks.d)


@pytest.mark.parametrize(
    ("status", "expected"),
    [("pending", "ad"), ("in_progress", "b"), ("completed", "c")],
)
def test_status_filter_keeps_tasks_of_that_status(member_client, tasks, status, expected):
    result = filtered(member_client, {"status": status})

    assert result == ids(*(getattr(tasks, name) for name in expected))


def test_status_filter_accepts_several_repeated_values(member_client, tasks):
    result = filtered(member_client, {"status": ["pending", "in_progress"]})

    assert result == ids(tasks.a, tasks.b, tasks.d)


def test_status_filter_accepts_several_comma_separated_values(member_client, tasks):
    result = filtered(member_client, {"status": "pending,in_progress"})

    assert result == ids(tasks.a, tasks.b, tasks.d)


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("high", "a"), ("medium", "cd"), ("low", "b")],
)
def test_priority_filter_keeps_tasks_of_that_priority(member_client, tasks, priority, expected):
    result = filtered(member_client, {"priority": priority})

    assert result == ids(*(getattr(tasks, name) for name in expected))


def test_priority_filter_accepts_several_repeated_values(member_client, tasks):
    assert filtered(member_client, {"priority": ["low", "high"]}) == ids(tasks.a, tasks.b)


def test_priority_filter_accepts_several_comma_separated_values(member_client, tasks):
    assert filtered(member_client, {"priority": "low,high"}) == ids(tasks.a, tasks.b)


def test_status_and_priority_filters_combine(member_client, tasks):
    result = filtered(member_client, {"status": "pending", "priority": "medium"})

    assert result == ids(tasks.d)


def test_search_matches_a_word_in_the_title_or_the_description(member_client, tasks):
    assert filtered(member_client, {"search": "quarterly"}) == ids(tasks.a, tasks.d)


def test_search_matches_a_word_only_in_a_description(member_client, tasks):
    assert filtered(member_client, {"search": "invoices"}) == ids(tasks.b)


def test_search_matches_a_word_only_in_a_title(member_client, tasks):
    assert filtered(member_client, {"search": "plumber"}) == ids(tasks.c)


def test_search_ignores_case(member_client, tasks):
    assert filtered(member_client, {"search": "PLUMBER"}) == ids(tasks.c)


def test_search_without_a_match_is_an_empty_page(member_client, tasks):
    response = member_client.get("/api/v1/tasks/", {"search": "zeppelin"})

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0
    assert response.json()["results"] == []


def test_manager_search_finds_every_matching_task(manager_client, tasks):
    result = filtered(manager_client, {"search": "quarterly"})

    assert result == ids(tasks.a, tasks.d, tasks.hidden)


def test_assignee_filter_keeps_visible_tasks_assigned_to_that_user(
    member_client, tasks, other_member
):
    # `hidden` is assigned to Otto too, but Mia cannot see it.
    assert filtered(member_client, {"assignee": other_member.pk}) == ids(tasks.b, tasks.d)


def test_assignee_filter_for_a_manager_includes_everyones_tasks(
    manager_client, tasks, other_member
):
    result = filtered(manager_client, {"assignee": other_member.pk})

    assert result == ids(tasks.b, tasks.d, tasks.hidden)


def test_assignee_filter_for_a_user_with_no_tasks_is_empty(member_client, tasks, admin):
    assert filtered(member_client, {"assignee": admin.pk}) == set()


def test_due_before_is_inclusive(member_client, tasks):
    result = filtered(member_client, {"due_before": iso(tasks.a.due_date)})

    assert result == ids(tasks.a, tasks.c)


def test_due_after_is_inclusive(member_client, tasks):
    result = filtered(member_client, {"due_after": iso(tasks.a.due_date)})

    assert result == ids(tasks.a, tasks.b)


def test_due_before_and_due_after_make_a_range(member_client, tasks):
    query = {"due_after": iso(tasks.c.due_date), "due_before": iso(tasks.a.due_date)}

    assert filtered(member_client, query) == ids(tasks.a, tasks.c)


def test_due_before_just_before_a_due_date_leaves_that_task_out(member_client, tasks):
    query = {"due_before": iso(tasks.a.due_date - timedelta(seconds=1))}

    assert filtered(member_client, query) == ids(tasks.c)


def test_due_filters_accept_a_utc_z_suffix(member_client, tasks):
    value = tasks.a.due_date.strftime("%Y-%m-%dT%H:%M:%SZ")

    assert filtered(member_client, {"due_before": value}) == ids(tasks.a, tasks.c)


def test_overdue_true_keeps_past_due_tasks_that_are_not_completed(member_client, tasks):
    assert filtered(member_client, {"overdue": "true"}) == ids(tasks.a)


def test_overdue_false_keeps_every_other_task(member_client, tasks):
    # b is due later, c is completed, d has no due date.
    assert filtered(member_client, {"overdue": "false"}) == ids(tasks.b, tasks.c, tasks.d)


def test_overdue_for_a_manager_includes_everyones_overdue_tasks(manager_client, tasks):
    assert filtered(manager_client, {"overdue": "true"}) == ids(tasks.a, tasks.hidden)


def test_filter_counts_match_the_filtered_results(member_client, tasks):
    response = member_client.get("/api/v1/tasks/", {"status": "pending"})

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 2


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "bogus"),
        ("status", "pending,bogus"),
        ("priority", "urgent"),
        ("priority", "low,urgent"),
        ("due_before", "notadate"),
        ("due_after", "notadate"),
        ("overdue", "maybe"),
        ("ordering", "owner"),
        ("ordering", "-owner"),
        ("ordering", "password"),
        ("assignee", "abc"),
        ("assignee", "2.7"),
        ("assignee", "1e3"),
        ("limit", "abc"),
        ("offset", "-1"),
    ],
)
def test_invalid_filter_value_is_400_naming_the_parameter(member_client, tasks, param, value):
    response = member_client.get("/api/v1/tasks/", {param: value})

    assert_field_error(response, param)


def test_repeated_status_with_one_bad_value_is_400_naming_status(member_client, tasks):
    response = member_client.get("/api/v1/tasks/", {"status": ["pending", "bogus"]})

    assert_field_error(response, "status")


def test_two_invalid_parameters_are_both_named(member_client, tasks):
    response = member_client.get("/api/v1/tasks/", {"status": "bogus", "priority": "urgent"})

    error = assert_field_error(response, "status")
    assert "priority" in error["fields"]


@pytest.mark.parametrize("query", ["status=completed", "search=nothing-like-it", "ordering=-id"])
def test_a_lists_query_string_is_refused_on_one_task(query, member_client, task):
    # Filters, search and ordering are for lists: on one task they are unknown
    # parameters (taskmanager.query_parameters), not a filter that could 404 it.
    url = f"/api/v1/tasks/{task.pk}/?{query}"
    name = query.split("=")[0]

    for response in (
        member_client.get(url),
        member_client.patch(url, {"title": "Renamed"}, format="json"),
    ):
        error = assert_field_error(response, name)
        assert error["fields"] == {name: ["Unknown query parameter."]}
    task.refresh_from_db()
    assert task.title != "Renamed"
