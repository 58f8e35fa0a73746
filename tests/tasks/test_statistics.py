"""GET tasks/statistics/: counts over the tasks the caller can see, on known data."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks.models import Task
from tasks.selectors import statistics_of, statistics_query
from tests.factories import TaskFactory, UserFactory
from tests.tasks.helpers import STATS_URL

pytestmark = pytest.mark.django_db

STATS_SHAPE = {"total", "by_status", "by_priority", "overdue", "completion_rate"}


@pytest.fixture
def known_tasks(member, other_member, past, future):
    """Mia sees a, b, c, f (hers) and d, e (Otto's, assigned to her); Otto sees d, e, g.

    a pending      high    due in the past     overdue
    b in_progress  low     due in the future
    c completed    medium  due in the past     not overdue: completed
    d pending      medium  no due date
    e completed    high    no due date
    f in_progress  medium  due in the past     overdue
    g pending      low     due in the past     overdue (Otto's own)
    """
    TaskFactory(owner=member, status="pending", priority="high", due_date=past)
    TaskFactory(owner=member, status="in_progress", priority="low", due_date=future)
    TaskFactory(owner=member, status="completed", priority="medium", due_date=past)
    TaskFactory(owner=other_member, assignee=member, status="pending", priority="medium")
    TaskFactory(owner=other_member, assignee=member, status="completed", priority="high")
    TaskFactory(owner=member, status="in_progress", priority="medium", due_date=past)
    TaskFactory(owner=other_member, status="pending", priority="low", due_date=past)


def stats(client):
    response = client.get(STATS_URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == STATS_SHAPE, body
    return body


def test_member_statistics_count_the_tasks_she_owns_or_is_assigned(member_client, known_tasks):
    assert stats(member_client) == {
        "total": 6,
        "by_status": {"pending": 2, "in_progress": 2, "completed": 2},
        "by_priority": {"low": 1, "medium": 3, "high": 2},
        "overdue": 2,
        "completion_rate": 0.3333,
    }


def test_other_member_statistics_count_only_his_visible_tasks(other_member_client, known_tasks):
    assert stats(other_member_client) == {
        "total": 3,
        "by_status": {"pending": 2, "in_progress": 0, "completed": 1},
        "by_priority": {"low": 1, "medium": 1, "high": 1},
        "overdue": 1,
        "completion_rate": 0.3333,
    }


@pytest.mark.parametrize("client_name", ["manager_client", "admin_client"])
def test_manager_and_admin_statistics_count_every_task(request, client_name, known_tasks):
    client = request.getfixturevalue(client_name)

    assert stats(client) == {
        "total": 7,
        "by_status": {"pending": 3, "in_progress": 2, "completed": 2},
        "by_priority": {"low": 2, "medium": 3, "high": 2},
        "overdue": 3,
        "completion_rate": 0.2857,
    }


def test_statistics_without_tasks_are_zero_with_a_zero_completion_rate(client_for, known_tasks):
    body = stats(client_for(UserFactory()))

    assert body == {
        "total": 0,
        "by_status": {"pending": 0, "in_progress": 0, "completed": 0},
        "by_priority": {"low": 0, "medium": 0, "high": 0},
        "overdue": 0,
        "completion_rate": 0.0,
    }


def test_completion_rate_rounds_to_four_places(member_client, member):
    for status in ("completed", "completed", "pending"):
        TaskFactory(owner=member, status=status)

    assert stats(member_client)["completion_rate"] == 0.6667


def test_completion_rate_is_one_when_every_task_is_completed(member_client, member):
    TaskFactory(owner=member, status="completed")
    TaskFactory(owner=member, status="completed")

    body = stats(member_client)

    assert body["completion_rate"] == 1.0
    assert body["total"] == 2
    assert body["overdue"] == 0


def test_a_task_due_in_the_future_is_not_overdue(member_client, member, future):
    TaskFactory(owner=member, status="pending", due_date=future)

    assert stats(member_client)["overdue"] == 0


def test_the_next_change_of_the_overdue_count_is_the_soonest_open_tasks_due_date(member):
    now = timezone.now()
    soon, later = now + timedelta(minutes=5), now + timedelta(hours=2)
    # A completed task never becomes overdue: its due date changes nothing.
    TaskFactory(owner=member, status="completed", priority="low", due_date=soon)
    TaskFactory(owner=member, status="pending", priority="low", due_date=later)
    TaskFactory(owner=member, status="in_progress", priority="high", due_date=later)
    TaskFactory(owner=member, status="pending", priority="high", due_date=now - timedelta(days=1))

    figures, next_due = statistics_of(statistics_query(Task.objects.filter(owner=member), now))

    assert next_due == later
    assert figures["overdue"] == 1
    assert figures["by_status"] == {"pending": 2, "in_progress": 1, "completed": 1}
    assert figures["by_priority"] == {"low": 2, "medium": 0, "high": 2}
