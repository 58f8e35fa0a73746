"""The indexes serve the common list queries: PostgreSQL's own plans, read with EXPLAIN
on a table with a realistic spread (5,000 tasks of 200 users in their personal projects
and 40 shared ones: a member sees a few percent of them) and fresh statistics."""

import itertools
import re

import pytest
from django.db import connection, connections

from accounts.models import User
from projects.models import Membership, Project
from tasks import listing, selectors
from tasks.filters import TaskFilter
from tasks.models import Task

USERS, TEAMS, TASKS = 200, 40, 5000

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans: PostgreSQL"),
]


@pytest.fixture
def spread(member, manager):
    # Seeded directly (not through the services): only the rows' spread matters here.
    users = [member] + [
        User.objects.create_user(f"user{i}", f"user{i}@example.com", "x") for i in range(USERS - 1)
    ]
    # create_user makes accounts as version 1 did: their personal projects are added.
    Project.objects.bulk_create(Project(name="Personal", personal_owner=user) for user in users[1:])
    personal = {p.personal_owner_id: p for p in Project.objects.filter(personal_owner__in=users)}
    Membership.objects.bulk_create(
        Membership(project=personal[user.pk], user=user, role="admin") for user in users[1:]
    )
    # Shared projects of USERS / TEAMS members each, every user in one of them.
    shared = Project.objects.bulk_create(Project(name=f"Team {n}") for n in range(TEAMS))
    team_of = {user.pk: shared[i % TEAMS] for i, user in enumerate(users)}
    Membership.objects.bulk_create(
        Membership(project=team_of[user.pk], user=user, role="admin" if i < TEAMS else "member")
        for i, user in enumerate(users)
    )
    teammates = {team.pk: [u for u in users if team_of[u.pk] == team] for team in shared}
    statuses = itertools.cycle(Task.Status.values)
    tasks = []
    for i in range(TASKS):
        owner = users[i % USERS]
        # Half in the owner's personal project, half in their team's, assigned there.
        team = team_of[owner.pk]
        in_team = i % 2 == 1
        tasks.append(
            Task(
                title=f"task {i}",
                position=f"{i + 1:010d}",
                project=team if in_team else personal[owner.pk],
                owner=owner,
                assignee=teammates[team.pk][i % len(teammates[team.pk])] if in_team else None,
                status=(status := next(statuses)),
                completed_at="2026-01-01T00:00:00Z" if status == "completed" else None,
            )
        )
    Task.objects.bulk_create(tasks)
    with connection.cursor() as cursor:
        for table in ("projects_project", "projects_membership", "tasks_task"):
            cursor.execute(f"ANALYZE {table}")


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

    # Either an index leading with the project, for each of the member's projects, or,
    # when their tasks are common enough, the created_at index in order with a filter:
    # never a scan of every task (the small project tables may be scanned).
    by_project = {"tasks_project_newest", "tasks_project_status"}
    assert by_project & _indexes(explained) or "tasks_created" in _indexes(explained), explained
    assert "Seq Scan on tasks_task" not in explained


def test_a_members_first_page_reads_each_project_newest_first_from_its_index(member, spread):
    """The first pages' statement (tasks.listing): each project's newest tasks come in
    the list's order, ties by id, straight from the index: no sort of each project."""
    listing.UnfilteredRows(member)[0:20]
    sql = listing._OF_MEMBER._compiled_top[connections["default"]].sql
    numbers = itertools.count(1)
    # As it runs: prepared, with the connection's one plan for every reader.
    prepared = re.sub("%s", lambda _: f"${next(numbers)}", sql)
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE first_page AS {prepared}")
        cursor.execute("EXPLAIN EXECUTE first_page(%s, 20, 20, 0)", [member.pk])
        explained = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE first_page")

    assert "tasks_project_newest" in _indexes(explained), explained
    # One sort: the page's, among the projects' rows (none within a project).
    assert len(re.findall(r"Sort  \(", explained)) == 1, explained
    assert "Seq Scan on tasks_task" not in explained
    assert "$1" in explained, "the generic plan, the reader a parameter"


def test_a_members_list_by_status_uses_the_status_indexes(member, spread):
    explained = plan(member, status="pending")

    assert "tasks_project_status" in _indexes(explained), explained
    assert "Seq Scan on tasks_task" not in explained


def test_a_managers_first_page_reads_the_created_at_index(manager, spread):
    explained = plan(manager)

    assert "tasks_created" in explained
    assert "Seq Scan on tasks_task" not in explained


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
    assert "Seq Scan on tasks_task" not in explained


def generic_plan(sql: str, *args: int) -> str:
    """EXPLAIN of `sql` (placeholders %s) as it runs: prepared, with its generic plan."""
    numbers = itertools.count(1)
    prepared = re.sub("%s", lambda _: f"${next(numbers)}", sql)
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE statement AS {prepared}")
        cursor.execute(f"EXPLAIN EXECUTE statement({', '.join(['%s'] * len(args))})", args)
        explained = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE statement")
    assert "$1" in explained, "the generic plan, the values parameters"
    return explained


def test_a_creates_last_position_reads_one_row_backwards_from_the_order_index(member, spread):
    from tasks import services

    project = Project.objects.get(personal_owner=member)
    services._last_position(project.pk)
    compiled = services._POSITIONS._compiled[connections["default"]].sql

    explained = generic_plan(f"{compiled} LIMIT 1", project.pk)

    assert "Index Only Scan Backward using tasks_project_position" in explained, explained
    assert "Sort" not in explained, explained


def test_the_writes_look_ups_read_one_row_by_a_unique_index(member, spread):
    from tasks import services

    task = Task.objects.filter(project__memberships__user=member).first()
    selectors.writable_task_of(member, task.pk)
    writable = selectors._WRITABLE_OF_MEMBER._compiled[connections["default"]].sql
    services._PERSONAL_PROJECT_LOCKED.rows((member.pk,))
    locked = services._PERSONAL_PROJECT_LOCKED._compiled[connections["default"]].sql

    for explained in (generic_plan(writable, member.pk, task.pk), generic_plan(locked, member.pk)):
        assert "Seq Scan on tasks_task" not in explained, explained
        assert "Seq Scan on projects_project" not in explained, explained
    assert "tasks_task_pkey" in generic_plan(writable, member.pk, task.pk)
