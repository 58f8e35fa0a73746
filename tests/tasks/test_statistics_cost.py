"""Statistics are one aggregate query, however many tasks and buckets there are."""

import pytest

from tests.factories import TaskFactory
from tests.helpers import TASKS_URL
from tests.tasks.helpers import STATS_URL

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("tasks", [1, 25])
def test_statistics_cost_one_query_whatever_the_number_of_tasks(
    member, member_client, django_assert_num_queries, tasks
):
    for index in range(tasks):
        TaskFactory(owner=member, priority=["low", "medium", "high"][index % 3])
    # Warms the authentication cache and the reader's project list (one query on the
    # first cached read after a change of her memberships: tasks.caching).
    assert member_client.get(TASKS_URL).status_code == 200

    with django_assert_num_queries(1):
        response = member_client.get(STATS_URL)

    assert response.status_code == 200
    assert response.json()["total"] == tasks
