"""A task's detail is cached per reader under the counters of their lists (issue 26):
every write that changes what the detail shows, and every change of who may see it,
reaches each reader's very next GET. Writes run inside `committed()` (or
`collaboration_helpers.write`), as a real request's after-commit effects do."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.services import project_create
from tasks.services import task_update
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import task_url
from tests.tasks.collaboration_helpers import create, patch, relate, write

pytestmark = pytest.mark.django_db


def detail(client, task_id):
    """(status code, body or None, ETag or None) of the task's detail."""
    response = client.get(task_url(task_id))
    body = response.json() if response.status_code == 200 else None
    return response.status_code, body, response.get("ETag")


def task_queries(captured):
    return [q["sql"] for q in captured.captured_queries if "tasks_task" in q["sql"]]


@pytest.fixture
def fellow(db):
    return UserFactory(username="fay", email="fay@example.com")


@pytest.fixture
def shared_task(member, fellow):
    return TaskFactory(
        owner=member, project=shared_project(member, fellow), title="Shared", status="pending"
    )


@pytest.fixture
def readers(member_client, client_for, fellow, manager_client):
    return {"owner": member_client, "fellow": client_for(fellow), "manager": manager_client}


def test_a_repeated_detail_is_answered_without_querying_tasks(member_client, task):
    first = member_client.get(task_url(task))
    assert first.status_code == 200, first.content

    with CaptureQueriesContext(connection) as captured:
        second = member_client.get(task_url(task))

    assert second.status_code == 200, second.content
    assert second.json() == first.json()
    assert second["ETag"] == first["ETag"] == f'"{task.pk}-{task.version}"'
    assert task_queries(captured) == []


def test_an_update_is_seen_in_every_readers_next_detail(readers, shared_task):
    for name, client in readers.items():
        assert detail(client, shared_task.pk)[1]["title"] == "Shared", name

    patch(readers["fellow"], shared_task, title="Renamed")

    for name, client in readers.items():
        status, body, etag = detail(client, shared_task.pk)
        assert status == 200, name
        assert (body["title"], body["version"]) == ("Renamed", 2), name
        assert etag == f'"{shared_task.pk}-2"', name


def test_a_write_through_the_service_reaches_the_cached_detail(
    member, member_client, task, committed
):
    assert detail(member_client, task.pk)[1]["version"] == 1

    with committed():
        task_update(actor=member, task_id=task.pk, data={"priority": "high"})

    body = detail(member_client, task.pk)[1]
    assert (body["priority"], body["version"]) == ("high", 2)


def test_a_deleted_task_is_a_404_in_every_readers_next_detail(readers, shared_task):
    for client in readers.values():
        assert detail(client, shared_task.pk)[0] == 200

    response = write(readers["owner"], "delete", task_url(shared_task.pk))
    assert response.status_code == 204, response.content

    for name, client in readers.items():
        assert detail(client, shared_task.pk)[0] == 404, name


def test_a_removed_member_gets_a_404_on_the_next_detail(
    member_client, client_for, fellow, shared_task
):
    fellow_client = client_for(fellow)
    assert detail(fellow_client, shared_task.pk)[0] == 200

    response = write(
        member_client, "delete", f"/api/v1/projects/{shared_task.project_id}/members/{fellow.pk}/"
    )
    assert response.status_code == 204, response.content

    assert detail(fellow_client, shared_task.pk)[0] == 404
    assert detail(member_client, shared_task.pk)[0] == 200


def test_a_task_moved_out_of_a_readers_projects_is_a_404_for_them(
    member, member_client, client_for, fellow, shared_task
):
    fellow_client = client_for(fellow)
    assert detail(fellow_client, shared_task.pk)[0] == 200
    elsewhere = project_create(actor=member, name="Only Mia")

    moved = patch(member_client, shared_task, project=elsewhere.pk)

    assert moved["project"] == elsewhere.pk
    assert detail(fellow_client, shared_task.pk)[0] == 404
    assert detail(member_client, shared_task.pk)[1]["project"] == elsewhere.pk


def test_a_new_member_sees_the_task_they_were_refused_before(
    member_client, client_for, shared_task
):
    newcomer = UserFactory(username="nina", email="nina@example.com")
    newcomer_client = client_for(newcomer)
    assert detail(newcomer_client, shared_task.pk)[0] == 404

    response = write(
        member_client,
        "post",
        f"/api/v1/projects/{shared_task.project_id}/members/",
        {"username": "nina", "role": "viewer"},
    )
    assert response.status_code == 201, response.content

    assert detail(newcomer_client, shared_task.pk)[1]["title"] == "Shared"


def test_a_change_of_another_task_reaches_the_details_it_changes(member_client):
    """A blocker completed unblocks the task it blocks, and a subtask created counts in
    its parent: neither is a write of the task whose detail is cached."""
    blocker, blocked = create(member_client, title="First"), create(member_client, title="Next")
    relate(member_client, blocker, blocked)
    assert detail(member_client, blocked["id"])[1]["blocked"] is True
    assert detail(member_client, blocker["id"])[1]["subtasks"] == {"total": 0, "completed": 0}

    patch(member_client, blocker, status="completed")
    create(member_client, title="Part", parent=blocker["id"])

    assert detail(member_client, blocked["id"])[1]["blocked"] is False
    assert detail(member_client, blocker["id"])[1]["subtasks"] == {"total": 1, "completed": 0}


def test_if_none_match_and_if_match_compare_with_the_current_version(member_client, task):
    _, _, first = detail(member_client, task.pk)
    assert member_client.get(task_url(task), HTTP_IF_NONE_MATCH=first).status_code == 304

    patch(member_client, task, title="Moved on")

    assert member_client.get(task_url(task), HTTP_IF_NONE_MATCH=first).status_code == 200
    assert member_client.get(task_url(task), HTTP_IF_MATCH=first).status_code == 412


def test_a_detail_refused_is_not_cached_for_the_task_made_later(member_client, member):
    """A 404 is not kept: the id a reader asked for too early answers once it exists."""
    upcoming = TaskFactory(owner=member).pk + 1
    assert detail(member_client, upcoming)[0] == 404

    made = create(member_client, title="Later")

    assert made["id"] == upcoming
    assert detail(member_client, upcoming)[1]["title"] == "Later"
