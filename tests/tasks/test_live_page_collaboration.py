"""/live/ and issue 24: each task's labels (named and coloured from the page's map),
subtasks and blocked state, usernames instead of ids, and a status control that
writes through the API with the page's session and CSRF token."""

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from projects.services import label_create, member_remove, project_create, project_update
from tasks.services import relation_create, task_update
from tests.factories import TaskFactory, UserFactory
from tests.projects.helpers import join
from tests.tasks.test_live_page import LIVE_URL, initial_data

pytestmark = pytest.mark.django_db


def task_url(task) -> str:
    return f"/api/v1/tasks/{task.pk}/"


def shown(data: dict, task) -> dict:
    (found,) = [t for t in data["tasks"] if t["id"] == task.pk]
    return found


# What the rows name by id


def test_the_page_names_the_labels_of_its_projects_and_no_others(client, member, other_member):
    garden = project_create(actor=member, name="Garden")
    red = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    blue = label_create(actor=member, project_id=garden.pk, name="Blue", color="#0000ff")
    others = project_create(actor=other_member, name="Otto's")
    label_create(actor=other_member, project_id=others.pk, name="Secret", color="#000000")
    task = TaskFactory(owner=member, project=garden, labels=[red.pk, blue.pk])
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert shown(data, task)["labels"] == sorted([red.pk, blue.pk])
    assert data["labels"] == {
        str(red.pk): {"name": "Red", "color": "#ff0000"},
        str(blue.pk): {"name": "Blue", "color": "#0000ff"},
    }


def test_a_picked_project_brings_only_its_labels_and_members(client, member, other_member):
    garden = project_create(actor=member, name="Garden")
    join(garden, other_member)
    red = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    attic = project_create(actor=member, name="Attic")
    label_create(actor=member, project_id=attic.pk, name="Dusty", color="#999999")
    join(attic, UserFactory(username="anna"))
    client.force_login(member)

    everything = initial_data(client.get(LIVE_URL))
    picked = initial_data(client.get(LIVE_URL, {"project": str(garden.pk)}))

    assert {label["name"] for label in everything["labels"].values()} == {"Red", "Dusty"}
    assert set(everything["users"].values()) == {"mia", "otto", "anna"}
    assert picked["labels"] == {str(red.pk): {"name": "Red", "color": "#ff0000"}}
    assert picked["users"] == {str(member.pk): "mia", str(other_member.pk): "otto"}


def test_the_page_names_members_owners_and_assignees_but_no_stranger(client, member, other_member):
    garden = project_create(actor=member, name="Garden")
    join(garden, other_member)
    task = TaskFactory(owner=other_member, project=garden, assignee=member)
    stranger = UserFactory(username="stranger")
    project_create(actor=stranger, name="Elsewhere")
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert shown(data, task)["owner"] == other_member.pk
    assert shown(data, task)["assignee"] == member.pk
    assert data["users"][str(other_member.pk)] == "otto"
    assert data["users"][str(member.pk)] == "mia"
    assert str(stranger.pk) not in data["users"]


def test_an_owner_who_left_the_project_is_still_named(client, member, other_member, committed):
    garden = project_create(actor=member, name="Garden")
    join(garden, other_member)
    task = TaskFactory(owner=other_member, project=garden)
    with committed():
        member_remove(actor=member, project_id=garden.pk, user_id=other_member.pk)
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert shown(data, task)["owner"] == other_member.pk
    assert data["users"][str(other_member.pk)] == "otto"


def test_each_task_carries_its_subtasks_and_blocked_state(client, member):
    parent = TaskFactory(owner=member, title="Parent")
    TaskFactory(owner=member, parent=parent.pk, status="completed")
    TaskFactory(owner=member, parent=parent.pk)
    blocker = TaskFactory(owner=member, title="Blocker")
    relation_create(actor=member, task=blocker, kind="blocks", other_id=parent.pk)
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert shown(data, parent)["subtasks"] == {"total": 2, "completed": 1}
    assert shown(data, parent)["blocked"] is True
    assert shown(data, blocker)["blocked"] is False
    assert shown(data, blocker)["subtasks"] == {"total": 0, "completed": 0}


def test_the_page_tells_a_viewer_apart_from_those_who_write(client, member, other_member):
    garden = project_create(actor=other_member, name="Garden")
    join(garden, member, role="viewer")
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    roles = {project["name"]: project["role"] for project in data["projects"]}
    assert roles["Garden"] == "viewer"
    assert sorted(data["write_roles"]) == ["admin", "member"]
    assert data["change_any"] is False
    assert data["statuses"] == [
        ["pending", "Pending"],
        ["in_progress", "In progress"],
        ["completed", "Completed"],
    ]
    assert data["tasks_url"] == "/api/v1/tasks/"


def test_an_archived_project_is_marked_so(client, member):
    garden = project_create(actor=member, name="Garden")
    project_update(actor=member, project_id=garden.pk, data={"is_archived": True})
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert {p["name"]: p["archived"] for p in data["projects"]}["Garden"] is True


def page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIVE_URL)
    assert response.status_code == 200
    return len(queries)


def test_labels_and_usernames_cost_the_same_queries_for_one_task_or_many(client, member):
    garden = project_create(actor=member, name="Garden")
    label = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    TaskFactory(owner=member, project=garden, labels=[label.pk])
    client.force_login(member)
    client.get(LIVE_URL)  # the session and permissions cached as on any later request
    few = page_queries(client)

    for n in range(4):
        project = project_create(actor=member, name=f"Project {n}")
        helper = UserFactory(username=f"helper{n}")
        join(project, helper)
        labels = [
            label_create(actor=member, project_id=project.pk, name=f"L{n}{i}", color="#00ff00").pk
            for i in range(3)
        ]
        for _ in range(3):
            TaskFactory(owner=member, project=project, assignee=helper, labels=labels)

    many = initial_data(client.get(LIVE_URL))
    assert len(many["tasks"]) == 13
    assert len(many["labels"]) == 13
    assert {f"helper{n}" for n in range(4)} <= set(many["users"].values())
    assert page_queries(client) == few


# The status control: the API with the page's session and CSRF token


def csrf_token_of(response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', response.content.decode())
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def page_client(member) -> Client:
    # As a browser: Django's test client skips CSRF checks unless told not to.
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    return client


def patch_status(client: Client, task, status: str, *, token: str | None, version: int):
    headers = {"HTTP_IF_MATCH": f'"{task.pk}-{version}"'}
    if token is not None:
        headers["HTTP_X_CSRFTOKEN"] = token
    return client.patch(
        task_url(task),
        data=json.dumps({"status": status}),
        content_type="application/json",
        **headers,
    )


def test_the_page_changes_a_status_with_its_session_and_csrf_token(page_client, member):
    task = TaskFactory(owner=member)
    token = csrf_token_of(page_client.get(LIVE_URL))

    response = patch_status(page_client, task, "completed", token=token, version=1)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "completed"
    assert response.json()["version"] == 2


def test_a_status_change_without_the_csrf_token_is_refused(page_client, member):
    task = TaskFactory(owner=member)
    page_client.get(LIVE_URL)  # the CSRF cookie, but no header

    response = patch_status(page_client, task, "completed", token=None, version=1)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    task.refresh_from_db()
    assert task.status == "pending"


def test_a_status_change_on_a_stale_version_is_a_412(page_client, member):
    task = TaskFactory(owner=member)
    token = csrf_token_of(page_client.get(LIVE_URL))
    task_update(actor=member, task_id=task.pk, data={"title": "Changed meanwhile"})

    response = patch_status(page_client, task, "completed", token=token, version=1)

    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    # What the page then reloads.
    reloaded = page_client.get(task_url(task), HTTP_ACCEPT="application/json")
    assert reloaded.status_code == 200
    assert reloaded.json()["version"] == 2
    assert reloaded.json()["status"] == "pending"


def test_a_viewer_s_status_change_is_refused(member, other_member):
    garden = project_create(actor=other_member, name="Garden")
    join(garden, member, role="viewer")
    task = TaskFactory(owner=other_member, project=garden)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    token = csrf_token_of(client.get(LIVE_URL))

    response = patch_status(client, task, "completed", token=token, version=1)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
