"""Lists and statistics are cached per user, and a write reaches every affected cache.

Each test warms the caches of the members of a project (its admin who owns the task,
the assignee, another member, a viewer), a manager and an admin first, then writes
inside `committed()` (the after-commit invalidation runs as in a real request), then
expects the change on each one's very next GET. The caches key on per-project
counters (tasks/caching.py): a write in the project, a change of membership and an
archive each reach every member's lists.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks.services import task_update
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import TASKS_URL, page, task_url
from tests.tasks.helpers import STATS_URL, list_ids

pytestmark = pytest.mark.django_db


def listed(client, params=None):
    """{id: (title, status)} of the tasks `client` lists."""
    body = page(client.get(TASKS_URL, {"limit": 100, **(params or {})}))
    return {item["id"]: (item["title"], item["status"]) for item in body["results"]}


def listed_assignee(client, task_id):
    body = page(client.get(TASKS_URL, {"limit": 100}))
    (item,) = [item for item in body["results"] if item["id"] == task_id]
    return item["assignee"]


def stats(client):
    response = client.get(STATS_URL)
    assert response.status_code == 200, response.content
    return response.json()


def project_url(project_id):
    return f"/api/v1/projects/{project_id}/"


def members_url(project_id, user_id=None):
    url = f"{project_url(project_id)}members/"
    return url if user_id is None else f"{url}{user_id}/"


@pytest.fixture
def fellow(db):
    return UserFactory(username="fay", email="fay@example.com")


@pytest.fixture
def onlooker(db):
    return UserFactory(username="vic", email="vic@example.com")


@pytest.fixture
def shared_task(member, other_member, fellow, onlooker):
    """Mia's task in her shared project, assigned to Otto; Fay is a member there too
    (nothing assigned), Vic a viewer."""
    task = TaskFactory(owner=member, assignee=other_member, title="Shared", status="pending")
    shared_project(member, fellow)
    shared_project(member, onlooker, role="viewer")
    return task


@pytest.fixture
def viewers(
    member_client, other_member_client, manager_client, admin_client, client_for, fellow, onlooker
):
    """The project's members (owner, assignee, fellow, onlooker), a manager and an admin,
    by name."""
    return {
        "owner": member_client,
        "assignee": other_member_client,
        "fellow": client_for(fellow),
        "onlooker": client_for(onlooker),
        "manager": manager_client,
        "admin": admin_client,
    }


def warm(viewers):
    """Each viewer's list and statistics as they are now (and now cached)."""
    return {name: (listed(client), stats(client)) for name, client in viewers.items()}


@pytest.mark.parametrize("writer", ["owner", "fellow"])
def test_a_created_task_is_seen_by_every_member_and_manager_on_their_next_get(
    viewers, other_member, shared_task, committed, writer
):
    before = warm(viewers)

    with committed():
        response = viewers[writer].post(
            TASKS_URL,
            {"title": "Brand new", "assignee": other_member.pk, "project": shared_task.project_id},
            format="json",
        )
    assert response.status_code == 201, response.content
    new_id = response.json()["id"]

    for name, client in viewers.items():
        assert listed(client).get(new_id) == ("Brand new", "pending"), name
        assert stats(client)["total"] == before[name][1]["total"] + 1, name
        assert stats(client)["by_status"]["pending"] == before[name][1]["by_status"]["pending"] + 1


@pytest.mark.parametrize("writer", ["owner", "assignee", "fellow", "manager", "admin"])
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


def test_reassigning_is_seen_by_every_viewer_on_their_next_get(
    viewers, fellow, shared_task, committed
):
    warm(viewers)

    with committed():
        response = viewers["owner"].patch(
            task_url(shared_task), {"assignee": fellow.pk}, format="json"
        )
    assert response.status_code == 200, response.content

    for name, client in viewers.items():
        # Otto, assigned until this write, still sees the task: he is a member.
        assert listed_assignee(client, shared_task.pk) == fellow.pk, name


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_a_new_member_sees_the_projects_tasks_on_their_next_get(
    viewers, client_for, shared_task, committed, role
):
    newcomer = UserFactory(username="nina", email="nina@example.com")
    newcomer_client = client_for(newcomer)
    own = TaskFactory(owner=newcomer, title="Nina's own")
    warm(viewers)
    assert set(listed(newcomer_client)) == {own.pk}
    assert stats(newcomer_client)["total"] == 1

    with committed():
        response = viewers["owner"].post(
            members_url(shared_task.project_id),
            {"username": "nina", "role": role},
            format="json",
        )
    assert response.status_code == 201, response.content

    assert listed(newcomer_client)[shared_task.pk] == ("Shared", "pending")
    assert stats(newcomer_client)["total"] == 2


@pytest.mark.parametrize(
    ("remover", "removed"),
    [("owner", "assignee"), ("assignee", "assignee"), ("owner", "fellow")],
    ids=["assignee-removed", "assignee-leaves", "unassigned-member-removed"],
)
def test_a_removed_member_no_longer_sees_the_projects_tasks_on_their_next_get(
    viewers, other_member, fellow, shared_task, committed, remover, removed
):
    user = {"assignee": other_member, "fellow": fellow}[removed]
    before = warm(viewers)
    assert shared_task.pk in before[removed][0]

    with committed():
        response = viewers[remover].delete(members_url(shared_task.project_id, user.pk))
    assert response.status_code == 204, response.content

    assert shared_task.pk not in listed(viewers[removed])
    assert stats(viewers[removed])["total"] == before[removed][1]["total"] - 1
    expected_assignee = None if removed == "assignee" else other_member.pk
    # An assignee's assignment goes with him: a change every other viewer sees.
    for name, client in viewers.items():
        if name != removed:
            assert listed_assignee(client, shared_task.pk) == expected_assignee, name


def test_archiving_a_project_takes_its_tasks_off_every_viewers_next_list(
    viewers, shared_task, committed
):
    before = warm(viewers)
    with_archived = {name: listed(c, {"include_archived": "true"}) for name, c in viewers.items()}

    with committed():
        response = viewers["owner"].patch(
            project_url(shared_task.project_id), {"is_archived": True}, format="json"
        )
    assert response.status_code == 200, response.content

    for name, client in viewers.items():
        assert shared_task.pk not in listed(client), name
        assert stats(client)["total"] == before[name][1]["total"] - 1, name
        assert listed(client, {"include_archived": "true"}) == with_archived[name], name

    with committed():
        response = viewers["owner"].patch(
            project_url(shared_task.project_id), {"is_archived": False}, format="json"
        )
    assert response.status_code == 200, response.content

    for name, client in viewers.items():
        assert listed(client) == before[name][0], name
        assert stats(client) == before[name][1], name


def test_deleting_a_project_takes_its_tasks_off_every_viewers_next_list(
    viewers, shared_task, committed
):
    before = warm(viewers)

    with committed():
        response = viewers["owner"].delete(project_url(shared_task.project_id))
    assert response.status_code == 204, response.content

    for name, client in viewers.items():
        assert shared_task.pk not in listed(client), name
        assert stats(client)["total"] == before[name][1]["total"] - 1, name


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


def test_a_write_in_another_project_leaves_a_cached_list_as_it_was(
    client_for, member, shared_task, committed
):
    """Counters per project: a write bumps its project's, not every reader's."""
    outsider = UserFactory(username="olga", email="olga@example.com")
    outsider_client = client_for(outsider)
    own = TaskFactory(owner=outsider, title="Olga's own")
    first = outsider_client.get(TASKS_URL)
    assert first.status_code == 200, first.content

    with committed():
        task_update(actor=member, task_id=shared_task.pk, data={"title": "Elsewhere"})
    with CaptureQueriesContext(connection) as captured:
        second = outsider_client.get(TASKS_URL)

    assert second.json() == first.json()
    assert [item["id"] for item in second.json()["results"]] == [own.pk]
    assert task_queries(captured) == []


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
    the process bumps again before its next cached read, so the renamed task is not
    listed from the old entry."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache
    from redis.connection import Connection
    from redis.exceptions import ConnectionError as RedisConnectionError

    from tasks import caching

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        pytest.skip("the local-memory cache: a bump cannot fail")
    assert listed(other_member_client)[shared_task.pk][0] == "Shared"  # cached for Otto
    send = Connection.send_packed_command

    def unreachable_after_commit(connection, command, *args, **kwargs):
        # The scripts after the commit (the bump, the send) go as EVALSHA; the read
        # ahead before them reaches Redis.
        if b"EVALSHA" in (b"".join(command) if isinstance(command, list) else command):
            raise RedisConnectionError("Timeout reading from socket")
        return send(connection, command, *args, **kwargs)

    with monkeypatch.context() as blink:
        blink.setattr(Connection, "send_packed_command", unreachable_after_commit)
        with committed():
            response = member_client.patch(task_url(shared_task), {"title": "New"}, format="json")
    assert response.status_code == 200, response.content
    assert caching._unbumped  # kept for the next chance

    assert listed(other_member_client)[shared_task.pk][0] == "New"
    assert not caching._unbumped


def test_a_create_that_drew_its_project_names_it_at_commit_and_one_not_written_nothing(
    monkeypatch, committed
):
    from tasks import caching
    from tasks.models import Task

    bumped: list[list[str]] = []
    monkeypatch.setattr(caching, "_bump", bumped.append)
    written, unwritten = Task(title="Drawn"), Task(title="Not inserted")

    with committed():
        caching.invalidate_project_of(written)
        caching.invalidate_project_of(unwritten)
        # Drawn by the statement, after the call, before the commit.
        written.pk, written.project_id = 41, 7

    assert bumped == [[caching._project_scope(7), caching.ALL]]
