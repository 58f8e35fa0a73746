"""The indexes serve the common list queries: PostgreSQL's own plans, read with EXPLAIN
on a table with a realistic spread (2,000 tasks of 50 users) and fresh statistics."""

import itertools
import re

import pytest
from django.db import connection

from accounts.models import User
from tasks import selectors
from tasks.filters import TaskFilter
from tasks.models import Task

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans: PostgreSQL"),
]


@pytest.fixture
def spread(member, manager):
    users = [member] + [
        User.objects.create_user(f"user{i}", f"user{i}@example.com", "x") for i in range(49)
    ]
    statuses = itertools.cycle(Task.Status.values)
    # Seeded directly (not through the service): only the rows' spread matters here.
    Task.objects.bulk_create(
        Task(
            title=f"task {i}",
            owner=users[i % 50],
            assignee=users[(i * 7 + 3) % 50],
            status=(status := next(statuses)),
            completed_at="2026-01-01T00:00:00Z" if status == "completed" else None,
        )
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tasks_task")


def _indexes(explained: str) -> set[str]:
    return set(
        re.findall(
            r"(?:Index Scan|Index Only Scan|Bitmap Index Scan) (?:Backward )?"
            r"(?:using|on) (\w+)",
            explained,
        )
    )


def plan(user: User, **params: str) -> str:
    tasks = TaskFilter(params, queryset=selectors.task_visible_to(user)).qs
    return tasks[:20].explain()


def test_a_members_list_is_served_by_the_list_indexes(member, spread):
    explained = plan(member)

    # Either a BitmapOr of the owner and assignee indexes or, when a user's tasks are
    # common enough, the created_at index in order with a filter: never a table scan.
    assert {"tasks_owner_created", "tasks_assignee_created"} <= _indexes(explained) or (
        "tasks_created" in _indexes(explained)
    )
    assert "Seq Scan" not in explained


def test_a_members_list_by_status_uses_the_status_indexes(member, spread):
    explained = plan(member, status="pending")

    assert {"tasks_owner_status", "tasks_assignee_status"} <= _indexes(explained)
    assert "Seq Scan" not in explained


def test_a_managers_first_page_reads_the_created_at_index(manager, spread):
    explained = plan(manager)

    assert "tasks_created" in explained
    assert "Seq Scan" not in explained


@pytest.mark.parametrize(
    ("ordering", "index"),
    [("due_date", "tasks_due_date"), ("-due_date", "tasks_due_date_desc")],
)
def test_a_managers_list_by_due_date_reads_a_due_date_index_both_ways(
    manager, spread, ordering, index
):
    # Undated tasks come last both ways: ascending that is the btree's own order,
    # descending it needs `due_date DESC NULLS LAST` (migration 0002).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_task SET due_date = now() + (id % 500) * interval '1 hour'"
            " WHERE id % 3 <> 0"
        )
        cursor.execute("ANALYZE tasks_task")

    explained = plan(manager, ordering=ordering)

    assert index in _indexes(explained)
    assert "Seq Scan" not in explained
