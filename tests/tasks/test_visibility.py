"""Who sees, changes and deletes which task: owner, assignee, other member, manager, admin.

A member sees the tasks they own or are assigned to; anything else is 404, never 403.
Managers and admins see everything; managers change but cannot delete.
"""

import pytest

from tasks.models import Task
from tests.factories import UserFactory
from tests.helpers import FEED_URL, TASKS_URL, assert_error, task_url
from tests.tasks.helpers import STATS_URL, assert_task_unchanged, events_url, list_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_tasks(task, assigned_task, others_task):
    return task, assigned_task, others_task


def test_member_lists_the_tasks_they_own_or_are_assigned_to(member_client, three_tasks):
    task, assigned_task, _others_task = three_tasks

    assert set(list_ids(member_client)) == {task.pk, assigned_task.pk}


def test_other_member_lists_only_their_own_tasks(other_member_client, three_tasks):
    _task, assigned_task, others_task = three_tasks

    assert set(list_ids(other_member_client)) == {assigned_task.pk, others_task.pk}


@pytest.mark.parametrize("client_name", ["manager_client", "admin_client"])
def test_manager_and_admin_list_every_task(request, client_name, three_tasks):
    client = request.getfixturevalue(client_name)

    response = client.get(TASKS_URL)

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 3
    assert {item["id"] for item in response.json()["results"]} == {t.pk for t in three_tasks}


def test_member_without_tasks_gets_an_empty_list(client_for, three_tasks):
    response = client_for(UserFactory()).get(TASKS_URL)

    assert response.status_code == 200, response.content
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("client_name", "task_name"),
    [
        ("member_client", "task"),
        ("member_client", "assigned_task"),
        ("other_member_client", "assigned_task"),
        ("other_member_client", "others_task"),
        ("manager_client", "task"),
        ("manager_client", "others_task"),
        ("admin_client", "task"),
        ("admin_client", "others_task"),
    ],
)
def test_owner_assignee_manager_and_admin_read_the_task(request, client_name, task_name):
    client = request.getfixturevalue(client_name)
    task = request.getfixturevalue(task_name)

    response = client.get(task_url(task))

    assert response.status_code == 200, response.content
    assert response.json()["id"] == task.pk
    assert response.json()["title"] == task.title


@pytest.mark.parametrize(
    ("client_name", "task_name"),
    [("member_client", "others_task"), ("other_member_client", "task")],
)
def test_member_reading_a_task_they_cannot_see_gets_404_not_403(request, client_name, task_name):
    client = request.getfixturevalue(client_name)
    task = request.getfixturevalue(task_name)

    assert_error(client.get(task_url(task)), 404, "not_found")


@pytest.mark.parametrize(
    ("client_name", "task_name"),
    [
        ("member_client", "task"),  # owner
        ("member_client", "assigned_task"),  # assignee
        ("manager_client", "task"),
        ("admin_client", "task"),
    ],
)
def test_owner_assignee_manager_and_admin_update_the_task(request, client_name, task_name):
    client = request.getfixturevalue(client_name)
    task = request.getfixturevalue(task_name)

    response = client.patch(task_url(task), {"title": "Changed by someone allowed"})

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Changed by someone allowed"
    assert response.json()["owner"] == task.owner_id
    task.refresh_from_db()
    assert task.title == "Changed by someone allowed"
    assert task.version == 2


@pytest.mark.parametrize("method", ["patch", "put"])
def test_other_member_updating_a_task_they_cannot_see_gets_404(other_member_client, task, method):
    before = Task.objects.get(pk=task.pk)

    response = getattr(other_member_client, method)(task_url(task), {"title": "Hijacked"})

    assert_error(response, 404, "not_found")
    assert_task_unchanged(before)


def test_assignee_may_replace_the_task_with_put(member_client, assigned_task, other_member):
    response = member_client.put(task_url(assigned_task), {"title": "Rewritten by assignee"})

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Rewritten by assignee"
    assert response.json()["owner"] == other_member.pk


@pytest.mark.parametrize(
    ("client_name", "task_name"),
    [("member_client", "task"), ("admin_client", "task"), ("admin_client", "others_task")],
)
def test_owner_and_admin_delete_the_task(request, client_name, task_name):
    client = request.getfixturevalue(client_name)
    task = request.getfixturevalue(task_name)

    response = client.delete(task_url(task))

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=task.pk).exists()


def test_assignee_cannot_delete_the_task(member_client, assigned_task):
    before = Task.objects.get(pk=assigned_task.pk)

    response = member_client.delete(task_url(assigned_task))

    assert_error(response, 403, "permission_denied")
    assert_task_unchanged(before)


def test_manager_sees_but_cannot_delete_a_task(manager_client, task):
    before = Task.objects.get(pk=task.pk)

    response = manager_client.delete(task_url(task))

    assert_error(response, 403, "permission_denied")
    assert_task_unchanged(before)


def test_other_member_deleting_a_task_they_cannot_see_gets_404(other_member_client, task):
    before = Task.objects.get(pk=task.pk)

    response = other_member_client.delete(task_url(task))

    assert_error(response, 404, "not_found")
    assert_task_unchanged(before)


def test_member_reading_events_of_a_task_they_cannot_see_gets_404(member_client, others_task):
    assert_error(member_client.get(events_url(others_task)), 404, "not_found")


def test_unassigned_former_assignee_no_longer_sees_the_task(
    member_client, other_member_client, assigned_task, committed
):
    with committed():
        response = other_member_client.patch(task_url(assigned_task), {"assignee": None})
    assert response.status_code == 200, response.content

    assert_error(member_client.get(task_url(assigned_task)), 404, "not_found")
    assert assigned_task.pk not in list_ids(member_client)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", TASKS_URL),
        ("post", TASKS_URL),
        ("get", "detail"),
        ("put", "detail"),
        ("patch", "detail"),
        ("delete", "detail"),
        ("get", "events"),
        ("get", STATS_URL),
        ("get", FEED_URL),
    ],
)
def test_anonymous_requests_are_401(api_client, task, method, url):
    url = {"detail": task_url(task), "events": events_url(task)}.get(url, url)
    before = Task.objects.get(pk=task.pk)

    if method in {"post", "put", "patch"}:
        response = getattr(api_client, method)(url, {"title": "Anonymous"}, format="json")
    else:
        response = getattr(api_client, method)(url)

    assert_error(response, 401, "not_authenticated")
    assert_task_unchanged(before)
    assert Task.objects.count() == 1
