"""Overdue figures follow the clock, not only writes, although they are cached."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TaskFactory
from tests.helpers import TASKS_URL
from tests.tasks.helpers import STATS_URL

pytestmark = pytest.mark.django_db


def test_statistics_count_a_task_overdue_once_its_due_date_passes(member, member_client):
    TaskFactory(owner=member, due_date=timezone.now() + timedelta(seconds=1))
    assert member_client.get(STATS_URL).json()["overdue"] == 0  # cached until it is due

    time.sleep(1.5)

    assert member_client.get(STATS_URL).json()["overdue"] == 1


def test_the_overdue_list_follows_the_clock(member, member_client):
    TaskFactory(owner=member, due_date=timezone.now() + timedelta(seconds=1))
    assert member_client.get(TASKS_URL, {"overdue": "true"}).json()["count"] == 0

    time.sleep(1.5)

    assert member_client.get(TASKS_URL, {"overdue": "true"}).json()["count"] == 1
