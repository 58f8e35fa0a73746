"""Task lists and statistics stay cached per user and query with projects
(tasks/caching.py): a repeated GET is a hit, and exactly the changes that alter what
a reader sees make their next GET fresh: a task written in one of their projects, a
project joined or left, archived or unarchived. Changes elsewhere leave it cached.

Writes run inside `committed()`: the counters are bumped after commit, as in a real
request.
"""

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import TASKS_URL, commands, task_url
from tests.tasks.helpers import STATS_URL

pytestmark = pytest.mark.django_db
on_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="Redis round trips")

PROJECTS_URL = "/api/v1/projects/"


def project_url(project: Any) -> str:
    return f"{PROJECTS_URL}{project.pk}/"


def members_url(project: Any) -> str:
    return f"{project_url(project)}members/"


def member_url(project: Any, user: Any) -> str:
    return f"{members_url(project)}{user.pk}/"


def lookups(kind: str) -> dict[str, float]:
    """taskmanager_task_cache_total of `kind`, by result."""
    return {
        result: REGISTRY.get_sample_value(
            "taskmanager_task_cache_total", {"kind": kind, "result": result}
        )
        or 0.0
        for result in ("hit", "miss")
    }


def cached_get(client: Any, url: str, params: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The body of a 200 GET of the task list or statistics, and whether the cache
    answered it ("hit") or it was computed ("miss")."""
    kind = "statistics" if url == STATS_URL else "list"
    before = lookups(kind)
    response = client.get(url, {"limit": 100, **(params or {})} if kind == "list" else params)
    assert response.status_code == 200, response.content
    after = lookups(kind)
    counted = {result: after[result] - before[result] for result in after}
    assert sorted(counted.values()) == [0, 1], counted
    return response.json(), "hit" if counted["hit"] else "miss"


def listed(client: Any, params: dict[str, Any] | None = None) -> tuple[dict[int, str], str]:
    """{id: title} of the tasks `client` lists, and "hit" or "miss"."""
    body, result = cached_get(client, TASKS_URL, params)
    return {item["id"]: item["title"] for item in body["results"]}, result


def total(client: Any) -> tuple[int, str]:
    """The statistics' total, and "hit" or "miss"."""
    body, result = cached_get(client, STATS_URL)
    return body["total"], result


def warm(*clients: Any) -> None:
    """Each client's list and statistics cached (a second GET is a hit)."""
    for client in clients:
        listed(client)
        total(client)
        assert listed(client)[1] == "hit"
        assert total(client)[1] == "hit"


@pytest.fixture
def team(member, other_member):
    """Mia's project "Shared by mia", Otto a member, with Mia's task "Team task"."""
    project = shared_project(member, other_member)
    TaskFactory(owner=member, project=project, title="Team task")
    return project


def cached_queries(captured: CaptureQueriesContext) -> list[str]:
    """The queries of what the cache should spare: tasks and memberships."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if "tasks_task" in q["sql"] or "projects_membership" in q["sql"]
    ]


# --- hits -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [TASKS_URL, STATS_URL])
def test_a_second_identical_request_is_a_cache_hit_reading_no_task_or_membership(
    member, member_client, team, url
):
    TaskFactory(owner=member, title="Mine")
    first, result = cached_get(member_client, url)
    assert result == "miss"

    with CaptureQueriesContext(connection) as captured:
        second, result = cached_get(member_client, url)

    assert result == "hit"
    assert second == first
    assert cached_queries(captured) == []


def test_lists_are_cached_per_user_and_per_query(member, member_client, other_member_client, team):
    mine = TaskFactory(owner=member, title="Mine")
    assert listed(member_client)[1] == "miss"
    assert listed(member_client)[1] == "hit"

    # The same URL for Otto: his own entry, without Mia's personal task.
    tasks, result = listed(other_member_client)
    assert result == "miss"
    assert set(tasks.values()) == {"Team task"}

    # Another query: its own entry.
    tasks, result = listed(member_client, {"project": str(team.pk)})
    assert result == "miss"
    assert set(tasks.values()) == {"Team task"}
    assert mine.pk not in tasks
    assert listed(member_client, {"project": str(team.pk)})[1] == "hit"


# --- what makes the next read fresh ---------------------------------------------------


def test_a_task_created_by_another_member_is_in_my_next_list_and_statistics(
    member_client, other_member_client, team, committed
):
    warm(member_client)
    count, _ = total(member_client)

    with committed():
        response = other_member_client.post(
            TASKS_URL, {"title": "Otto's addition", "project": team.pk}, format="json"
        )
    assert response.status_code == 201, response.content

    tasks, result = listed(member_client)
    assert result == "miss"
    assert tasks[response.json()["id"]] == "Otto's addition"
    assert total(member_client) == (count + 1, "miss")


def test_a_task_changed_or_deleted_by_another_member_is_so_in_my_next_list(
    member_client, other_member, other_member_client, team, committed
):
    task = TaskFactory(owner=other_member, project=team, title="Before")
    warm(member_client)

    with committed():
        response = other_member_client.patch(task_url(task), {"title": "After"}, format="json")
    assert response.status_code == 200, response.content

    tasks, result = listed(member_client)
    assert result == "miss"
    assert tasks[task.pk] == "After"
    assert listed(member_client)[1] == "hit"

    with committed():
        response = other_member_client.delete(task_url(task))
    assert response.status_code == 204, response.content

    tasks, result = listed(member_client)
    assert result == "miss"
    assert task.pk not in tasks


def test_being_added_to_a_project_makes_my_next_list_fresh(
    member, member_client, other_member, other_member_client, committed
):
    project = shared_project(member)
    TaskFactory(owner=member, project=project, title="Not yet Otto's")
    warm(other_member_client)
    assert listed(other_member_client)[0] == {}

    with committed():
        response = member_client.post(
            members_url(project),
            {"username": other_member.username, "role": "viewer"},
            format="json",
        )
    assert response.status_code == 201, response.content

    tasks, result = listed(other_member_client)
    assert result == "miss"
    assert set(tasks.values()) == {"Not yet Otto's"}
    assert total(other_member_client) == (1, "miss")


@pytest.mark.parametrize("how", ["removed by the admin", "leaving"])
def test_leaving_a_project_makes_my_next_list_fresh(
    member_client, other_member, other_member_client, team, committed, how
):
    warm(other_member_client)
    assert set(listed(other_member_client)[0].values()) == {"Team task"}
    client = member_client if how == "removed by the admin" else other_member_client

    with committed():
        response = client.delete(member_url(team, other_member))
    assert response.status_code == 204, response.content

    assert listed(other_member_client) == ({}, "miss")
    assert total(other_member_client) == (0, "miss")


def test_archiving_and_unarchiving_make_every_members_next_list_fresh(
    member, member_client, other_member_client, team, committed
):
    mine = TaskFactory(owner=member, title="Mine")
    team_task = team.tasks.get()
    warm(member_client, other_member_client)

    with committed():
        response = member_client.patch(project_url(team), {"is_archived": True}, format="json")
    assert response.status_code == 200, response.content

    assert listed(member_client) == ({mine.pk: "Mine"}, "miss")
    assert listed(other_member_client) == ({}, "miss")
    assert total(other_member_client) == (0, "miss")
    # Asked for, the archived project's tasks are still there.
    tasks, _ = listed(other_member_client, {"include_archived": "true"})
    assert set(tasks.values()) == {"Team task"}
    warm(member_client, other_member_client)

    with committed():
        response = member_client.patch(project_url(team), {"is_archived": False}, format="json")
    assert response.status_code == 200, response.content

    tasks, result = listed(member_client)
    assert result == "miss"
    assert set(tasks.values()) == {"Mine", "Team task"}
    assert listed(other_member_client) == ({team_task.pk: "Team task"}, "miss")
    assert total(other_member_client) == (1, "miss")


def test_a_change_in_a_project_i_am_not_in_leaves_my_cached_list_valid(
    member, member_client, other_member, manager_client, team, committed, client_for
):
    """Otto belongs to Mia's project and to Sam's; what happens in Sam's is not Mia's
    concern. The manager, who sees every task, does see it: the write did bump."""
    sam = UserFactory(username="sam", email="sam@example.com")
    sams = shared_project(sam, other_member)
    sam_client = client_for(sam)
    warm(member_client)
    everything = {"include_archived": "true"}
    listed(manager_client, everything)
    assert listed(manager_client, everything)[1] == "hit"
    mine, _ = listed(member_client)
    count, _ = total(member_client)

    with committed():
        created = sam_client.post(TASKS_URL, {"title": "Sam's", "project": sams.pk}, format="json")
        assert created.status_code == 201, created.content
        added = sam_client.post(
            members_url(sams), {"username": "manon", "role": "member"}, format="json"
        )
        assert added.status_code == 201, added.content
        archived = sam_client.patch(project_url(sams), {"is_archived": True}, format="json")
        assert archived.status_code == 200, archived.content

    assert listed(member_client) == (mine, "hit")
    assert total(member_client) == (count, "hit")
    tasks, result = listed(manager_client, everything)
    assert result == "miss"
    assert tasks[created.json()["id"]] == "Sam's"


# --- Redis: round trips and the cost of a write ---------------------------------------


@on_redis
@pytest.mark.parametrize("url", [TASKS_URL, STATS_URL])
def test_a_warm_read_of_a_member_of_several_projects_is_one_redis_round_trip(
    member, member_client, other_member, team, redis_packets, url
):
    for number in range(3):
        project = shared_project(UserFactory(), member)
        TaskFactory(owner=member, project=project, title=f"Elsewhere {number}")
    TaskFactory(owner=member, title="Mine")
    first, result = cached_get(member_client, url)
    assert result == "miss"
    redis_packets.clear()

    again, result = cached_get(member_client, url)

    assert result == "hit"
    assert again == first
    assert len(redis_packets) == 1, redis_packets
    names = [arguments[0].upper() for arguments in commands(redis_packets[0])]
    assert b"MGET" in names
    assert b"EVAL" in names or b"EVALSHA" in names  # the project list with its counters


@on_redis
def test_a_task_write_costs_redis_the_same_in_a_project_of_2_and_of_50_members(
    member, member_client, other_member, redis_packets, committed
):
    small = shared_project(member, other_member)
    big = shared_project(UserFactory(), member, other_member, *UserFactory.create_batch(47))
    assert big.memberships.count() == 50
    assert small.memberships.count() == 2
    tasks = {
        "small": TaskFactory(owner=member, project=small),
        "big": TaskFactory(owner=member, project=big),
    }
    assert member_client.get(TASKS_URL).status_code == 200  # a warm session

    cost = {}
    for size, task in tasks.items():
        redis_packets.clear()
        with committed():
            response = member_client.patch(task_url(task), {"title": "Changed"}, format="json")
        assert response.status_code == 200, response.content
        sent = [commands(packet) for packet in redis_packets]
        # Which commands, with how many arguments each (the keys differ).
        cost[size] = [[(c[0].upper(), len(c)) for c in packet] for packet in sent]

    assert cost["small"] == cost["big"], cost
    assert any(name in (b"EVAL", b"EVALSHA") for packet in cost["big"] for name, _ in packet)
