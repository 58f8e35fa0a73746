"""Lists and statistics are cached per user, and a write reaches every affected cache.

Each test warms the caches of the owner, the assignee, a manager and an admin first,
then writes inside `committed()` (the after-commit invalidation runs as in a real
request), then expects the change on each one's very next GET.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks.services import task_update
from tests.factories import TaskFactory, UserFactory
from tests.helpers import TASKS_URL, page, task_url
from tests.tasks.helpers import STATS_URL, list_ids

pytestmark = pytest.mark.django_db


def listed(client, params=None):
    """{id: (title, status)} of the tasks `client` lists."""
    body = page(client.get(TASKS_URL, {"limit": 100, **(params or {})}))
    return {item["id"]: (item["title"], item["status"]) for item in body["results"]}


def stats(client):
    response = client.get(STATS_URL)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def shared_task(member, other_member):
    """Mia's task, assigned to Otto."""
    return TaskFactory(owner=member, assignee=other_member, title="Shared", status="pending")


@pytest.fixture
def viewers(member_client, other_member_client, manager_client, admin_client):
    """Owner, assignee, manager and admin clients, by name."""
    return {
        "owner": member_client,
        "assignee": other_member_client,
        "manager": manager_client,
        "admin": admin_client,
    }


def warm(viewers):
    """Each viewer's list and statistics as they are now (and now cached)."""
    return {name: (listed(client), stats(client)) for name, client in viewers.items()}


def test_a_created_task_is_seen_by_owner_assignee_and_manager_on_their_next_get(
    viewers, member_client, other_member, shared_task, committed
):
    before = warm(viewers)

    with committed():
        response = member_client.post(
            TASKS_URL, {"title": "Brand new", "assignee": other_member.pk}, format="json"
        )
    assert response.status_code == 201, response.content
    new_id = response.json()["id"]

    for name, client in viewers.items():
        assert listed(client).get(new_id) == ("Brand new", "pending"), name
        assert stats(client)["total"] == before[name][1]["total"] + 1, name
        assert stats(client)["by_status"]["pending"] == before[name][1]["by_status"]["pending"] + 1


@pytest.mark.parametrize("writer", ["owner", "assignee", "manager", "admin"])
def test_an_update_is_seen_by_every_viewer_on_their_next_get(
    viewers, shared_task, committed, writer
):
    before = warm(viewers)
    assert all(shared_task.pk in lists for lists, _ in before.values())

    with committed():
        response = viewers[writer].patch(
            task_url(shared_task), {"title": "Renamed", "status": "completed"}, format="json"
        )
    assert response.status_code == 200, response.content

    for name, client in viewers.items():
        assert listed(client)[shared_task.pk] == ("Renamed", "completed"), (writer, name)
        after = stats(client)
        assert after["total"] == before[name][1]["total"], (writer, name)
        assert after["by_status"]["completed"] == before[name][1]["by_status"]["completed"] + 1
        assert after["by_status"]["pending"] == before[name][1]["by_status"]["pending"] - 1


@pytest.mark.parametrize("writer", ["owner", "admin"])
def test_a_deleted_task_disappears_for_every_viewer_on_their_next_get(
    viewers, shared_task, committed, writer
):
    before = warm(viewers)

    with committed():
        response = viewers[writer].delete(task_url(shared_task))
    assert response.status_code == 204, response.content

    for name, client in viewers.items():
        assert shared_task.pk not in listed(client), (writer, name)
        assert stats(client)["total"] == before[name][1]["total"] - 1, (writer, name)


def test_reassigning_updates_the_lists_of_the_old_and_the_new_assignee(
    viewers, client_for, shared_task, committed
):
    newcomer = UserFactory(username="nina", email="nina@example.com")
    newcomer_client = client_for(newcomer)
    warm(viewers)
    assert listed(newcomer_client) == {}
    assert stats(newcomer_client)["total"] == 0

    with committed():
        response = viewers["owner"].patch(
            task_url(shared_task), {"assignee": newcomer.pk}, format="json"
        )
    assert response.status_code == 200, response.content

    assert shared_task.pk in listed(newcomer_client)
    assert stats(newcomer_client)["total"] == 1
    # Otto was the assignee until this write; his cached list must not keep the task.
    assert shared_task.pk not in listed(viewers["assignee"])
    assert stats(viewers["assignee"])["total"] == 0
    assert shared_task.pk in listed(viewers["owner"])
    assert shared_task.pk in listed(viewers["manager"])


def test_a_filtered_list_is_refreshed_after_a_write(member_client, member, committed):
    task = TaskFactory(owner=member, status="pending")
    assert list_ids(member_client, {"status": "pending"}) == [task.pk]
    assert list_ids(member_client, {"status": "completed"}) == []

    with committed():
        response = member_client.patch(task_url(task), {"status": "completed"}, format="json")
    assert response.status_code == 200, response.content

    assert list_ids(member_client, {"status": "pending"}) == []
    assert list_ids(member_client, {"status": "completed"}) == [task.pk]


def test_a_write_through_the_service_reaches_the_cached_list(member_client, member, committed):
    task = TaskFactory(owner=member, title="Before")
    assert listed(member_client)[task.pk][0] == "Before"

    with committed():
        task_update(actor=member, task_id=task.pk, data={"title": "After"})

    assert listed(member_client)[task.pk][0] == "After"


def test_cached_lists_are_per_user(manager_client, member_client, task, others_task):
    assert set(listed(manager_client)) == {task.pk, others_task.pk}
    assert stats(manager_client)["total"] == 2

    assert set(listed(member_client)) == {task.pk}
    assert stats(member_client)["total"] == 1


def test_cached_lists_are_per_query(member_client, member):
    low = TaskFactory(owner=member, priority="low")
    high = TaskFactory(owner=member, priority="high")

    assert list_ids(member_client, {"priority": "low"}) == [low.pk]
    assert list_ids(member_client, {"priority": "high"}) == [high.pk]
    assert list_ids(member_client, {"ordering": "priority"}) == [low.pk, high.pk]
    assert list_ids(member_client, {"ordering": "-priority"}) == [high.pk, low.pk]


def task_queries(captured):
    return [q["sql"] for q in captured.captured_queries if "tasks_task" in q["sql"]]


def test_a_repeated_list_request_is_answered_without_querying_tasks(member_client, task):
    first = member_client.get(TASKS_URL)
    assert first.status_code == 200, first.content

    with CaptureQueriesContext(connection) as captured:
        second = member_client.get(TASKS_URL)

    assert second.status_code == 200, second.content
    assert second.json() == first.json()
    assert task_queries(captured) == []


def test_repeated_statistics_are_answered_without_querying_tasks(member_client, task):
    first = stats(member_client)

    with CaptureQueriesContext(connection) as captured:
        second = stats(member_client)

    assert second == first
    assert second["total"] == 1
    assert task_queries(captured) == []


def test_a_bump_that_failed_on_redis_is_made_before_the_next_read(
    member_client, other_member_client, shared_task, committed, monkeypatch
):
    """Redis blinks at the moment of the bump, its entries from before still there:
    the process bumps again before its next cached read, so the task taken away is
    not listed from the old entry."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    from tasks import caching

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        pytest.skip("the local-memory cache: a bump cannot fail")
    assert shared_task.pk in listed(other_member_client)  # cached for Otto

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Timeout reading from socket")

    with monkeypatch.context() as blink:
        blink.setattr(Redis, "eval", unreachable)  # only the bump runs a script
        with committed():
            response = member_client.patch(task_url(shared_task), {"assignee": None}, format="json")
    assert response.status_code == 200, response.content
    assert caching._unbumped  # kept for the next chance

    assert shared_task.pk not in listed(other_member_client)
    assert not caching._unbumped
