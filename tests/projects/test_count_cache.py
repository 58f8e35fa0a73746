"""A list's `count` is the sum of per-project counts, each kept under its project's
counter (tasks.caching.count_by_project): a write in one project recounts that
project only, members share the counts, and the count is always the true one."""

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import TASKS_URL

pytestmark = pytest.mark.django_db


def count_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def counted_projects(statements: list[str]) -> set[int]:
    """The projects the COUNT statements counted per project (`project_id IN (...)`
    with literal ids); every statement must be such a per-project count."""
    found: set[int] = set()
    for sql in statements:
        assert "GROUP BY" in sql.upper(), sql
        literal = re.findall(r'"project_id" IN \(([0-9, ]+)\)', sql)
        assert literal, sql
        found.update(int(part) for group in literal for part in group.split(","))
    return found


def listed(client: Any, **params: Any) -> tuple[int, list[str]]:
    """The list's count and the COUNT statements that computing it ran."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(TASKS_URL, params)
    assert response.status_code == 200, response.content
    return response.json()["count"], count_queries(queries)


@pytest.fixture
def team(member, other_member):
    """Mia and Otto in two shared projects, with 3 and 2 tasks."""
    first = shared_project(other_member, member)
    second = shared_project(UserFactory(), member, other_member)
    for n in range(3):
        TaskFactory(owner=other_member, project=first, title=f"First {n}")
    for n in range(2):
        TaskFactory(owner=member, project=second, title=f"Second {n}", status="completed")
    return first, second


def test_the_count_is_the_sum_of_the_readers_projects(member_client, member, team):
    TaskFactory(owner=member, title="Personal")

    count, statements = listed(member_client)

    assert count == 6
    assert counted_projects(statements) == {member.personal_project.pk, *(p.pk for p in team)}


def test_a_write_in_one_project_recounts_that_project_only(
    member_client, other_member, team, committed
):
    first, _ = team
    listed(member_client)
    with committed():
        TaskFactory(owner=other_member, project=first, title="New")

    count, statements = listed(member_client)

    assert count == 6
    assert counted_projects(statements) == {first.pk}


def test_members_share_the_counts_of_a_project(
    member_client, other_member_client, other_member, team
):
    listed(member_client)

    count, statements = listed(other_member_client)

    # Otto's personal project was never counted; the two shared ones were, by Mia.
    assert count == 5
    assert counted_projects(statements) == {other_member.personal_project.pk}


def test_filters_are_counted_apart(member_client, team):
    assert listed(member_client)[0] == 5
    assert listed(member_client, status="completed")[0] == 2
    assert listed(member_client, status="completed", ordering="title", limit=1)[0] == 2


def test_a_task_deleted_or_moved_out_changes_the_count(
    member_client, member, other_member, team, committed
):
    first, second = team
    listed(member_client)
    moved = TaskFactory(owner=other_member, project=first, title="Leaves")
    with committed():
        from tasks.services import task_delete, task_update

        task_update(actor=other_member, task_id=moved.pk, data={"project": second})
        task_delete(actor=member, task_id=first.tasks.first().pk)

    assert listed(member_client)[0] == 5


@pytest.mark.parametrize("kept", ["garbage", (1, "3"), (1,), None])
def test_a_count_entry_that_is_not_ours_or_of_another_counter_is_recounted(
    member_client, team, kept
):
    import hashlib

    from django.core.cache import cache

    listed(member_client, search="First")
    first, _ = team
    digest = hashlib.sha256(b"search=First").hexdigest()[:32]
    key = f"tasks:count:{digest}:{first.pk}"
    assert cache.get(key) is not None  # where the count of this filter is kept
    cache.set(key, kept if kept is not None else (-1, 99))

    count, statements = listed(member_client, search="First", limit=5)

    assert count == 3
    assert counted_projects(statements) == {first.pk}
