"""Who sees, changes and deletes which task: members of its project by role, other
users, managers, admins.

A user sees the tasks of the projects they belong to (any role); anything else is
404, never 403. Admins and members of the project change its tasks, viewers only
read them; the project's admins delete any of its tasks, members those they created.
Managers and admins see everything; managers change but cannot delete.

`assigned_task` is Otto's, in his project "Shared by otto" where Mia is a member;
`task` is in Mia's personal project, `others_task` in Otto's.
"""

import pytest

from projects.services import member_remove
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import FEED_URL, TASKS_URL, assert_error, task_url
from tests.tasks.helpers import STATS_URL, assert_task_unchanged, events_url, list_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_tasks(task, assigned_task, others_task):
    return task, assigned_task, others_task


def test_member_lists_the_tasks_of_the_projects_they_belong_to(member_client, three_tasks):
    task, assigned_task, _others_task = three_tasks

    assert set(list_ids(member_client)) == {task.pk, assigned_task.pk}


def test_other_member_lists_only_the_tasks_of_his_projects(other_member_client, three_tasks):
    _task, assigned_task, others_task = three_tasks

    assert set(list_ids(other_member_client)) == {assigned_task.pk, others_task.pk}


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_every_member_of_a_project_sees_its_tasks_whoever_owns_or_is_assigned_them(
    client_for, member, other_member, role
):
    reader = UserFactory(username="rita", email="rita@example.com")
    project = shared_project(member, other_member)
    shared_project(member, reader, role=role)
    unassigned = TaskFactory(owner=member, project=project)
    assigned = TaskFactory(owner=other_member, assignee=member, project=project)
    client = client_for(reader)

    assert set(list_ids(client)) == {unassigned.pk, assigned.pk}
    for task in (unassigned, assigned):
        response = client.get(task_url(task))
        assert response.status_code == 200, response.content
        assert response.json()["project"] == project.pk


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
def test_project_members_manager_and_admin_read_the_task(request, client_name, task_name):
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
        ("member_client", "task"),  # her personal project's admin
        ("member_client", "assigned_task"),  # a member of Otto's project
        ("manager_client", "task"),
        ("admin_client", "task"),
    ],
)
def test_project_writers_manager_and_admin_update_the_task(request, client_name, task_name):
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


def test_a_project_member_may_replace_the_task_with_put(member_client, assigned_task, other_member):
    response = member_client.put(task_url(assigned_task), {"title": "Rewritten by a member"})

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Rewritten by a member"
    assert response.json()["owner"] == other_member.pk
    assert response.json()["project"] == assigned_task.project_id


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_a_viewer_of_the_project_reads_but_cannot_change_the_task_403(client_for, member, method):
    viewer = UserFactory(username="vic", email="vic@example.com")
    task = TaskFactory(owner=member, project=shared_project(member, viewer, role="viewer"))
    before = Task.objects.get(pk=task.pk)
    client = client_for(viewer)
    assert client.get(task_url(task)).status_code == 200

    if method == "delete":
        response = client.delete(task_url(task))
    else:
        response = getattr(client, method)(task_url(task), {"title": "Viewed"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert_task_unchanged(before)


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


def test_a_member_who_did_not_create_the_task_cannot_delete_it(member_client, assigned_task):
    before = Task.objects.get(pk=assigned_task.pk)

    response = member_client.delete(task_url(assigned_task))

    assert_error(response, 403, "permission_denied")
    assert_task_unchanged(before)


def test_a_member_deletes_a_task_they_created_in_a_shared_project(
    member_client, member, other_member
):
    task = TaskFactory(owner=member, project=shared_project(other_member, member))

    response = member_client.delete(task_url(task))

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=task.pk).exists()


def test_the_projects_admin_deletes_a_task_a_member_created(
    other_member_client, member, assigned_task
):
    task = TaskFactory(owner=member, project=assigned_task.project)

    response = other_member_client.delete(task_url(task))

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=task.pk).exists()


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


def test_an_unassigned_member_still_sees_the_task(
    member_client, other_member_client, assigned_task, committed
):
    with committed():
        response = other_member_client.patch(task_url(assigned_task), {"assignee": None})
    assert response.status_code == 200, response.content

    assert member_client.get(task_url(assigned_task)).status_code == 200
    assert assigned_task.pk in list_ids(member_client)


def test_a_member_removed_from_the_project_no_longer_sees_its_tasks(
    member_client, member, other_member, assigned_task, committed
):
    assert assigned_task.pk in list_ids(member_client)

    with committed():
        member_remove(actor=other_member, project_id=assigned_task.project_id, user_id=member.pk)

    assert_error(member_client.get(task_url(assigned_task)), 404, "not_found")
    assert assigned_task.pk not in list_ids(member_client)
    assert_error(member_client.get(events_url(assigned_task)), 404, "not_found")


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
