"""/live/: session login required; the page carries the visible tasks, the last
visible event id, and where its socket connects."""

import json
import re

import pytest

from projects.models import Project
from projects.services import personal_project_create, project_create
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

LIVE_URL = "/live/"


def initial_data(response) -> dict:
    match = re.search(
        r'<script id="live-initial" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "no initial data on the page"
    return json.loads(match.group(1))


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(LIVE_URL)

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/live/"


def test_the_page_lists_only_visible_tasks_and_connects_to_its_own_host(
    client, member, other_member
):
    mine = TaskFactory(owner=member)
    TaskFactory(owner=other_member)
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert [task["id"] for task in data["tasks"]] == [mine.pk]
    assert data["last_event"] >= 0
    assert data["socket_url"] == ""


def test_the_page_connects_where_websocket_public_url_says(client, member, settings):
    settings.WEBSOCKET_PUBLIC_URL = "ws://127.0.0.1:8001/ws/tasks/"
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert data["socket_url"] == "ws://127.0.0.1:8001/ws/tasks/"


# Projects: a column of the page, and a picker


def test_the_page_names_the_users_projects_their_personal_one_first(client, member, other_member):
    zoo = project_create(actor=member, name="zoo")
    attic = project_create(actor=member, name="Attic")
    project_create(actor=other_member, name="Not hers")
    TaskFactory(owner=other_member, assignee=member)  # Mia is a member of Otto's project
    personal = personal_project_create(user=member)
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    # With her role in each (the status control is for admins and members).
    assert data["projects"] == [
        {"id": personal.pk, "name": "Personal", "role": "admin", "archived": False},
        {"id": attic.pk, "name": "Attic", "role": "admin", "archived": False},
        {
            "id": Project.objects.get(name="Shared by otto").pk,
            "name": "Shared by otto",
            "role": "member",
            "archived": False,
        },
        {"id": zoo.pk, "name": "zoo", "role": "admin", "archived": False},
    ]
    assert data["project"] is None


def test_each_task_carries_its_project_and_the_page_has_the_column_and_picker(client, member):
    garden = project_create(actor=member, name="Garden <&>")
    task = TaskFactory(owner=member, project=garden)
    client.force_login(member)

    response = client.get(LIVE_URL)

    assert [t["project"] for t in initial_data(response)["tasks"]] == [task.project_id]
    html = response.content.decode()
    assert "<th>Project</th>" in html
    assert '<select id="project" name="project">' in html
    assert '<option value="" selected>All projects</option>' in html
    assert f'<option value="{garden.pk}">Garden &lt;&amp;&gt;</option>' in html


def test_a_picked_project_lists_only_its_tasks(client, member):
    garden = project_create(actor=member, name="Garden")
    planted = TaskFactory(owner=member, project=garden)
    TaskFactory(owner=member)  # in her personal project
    client.force_login(member)

    response = client.get(LIVE_URL, {"project": str(garden.pk)})

    data = initial_data(response)
    assert [t["id"] for t in data["tasks"]] == [planted.pk]
    assert data["project"] == garden.pk
    assert f'<option value="{garden.pk}" selected>Garden</option>' in response.content.decode()
    assert initial_data(client.get(LIVE_URL, {"project": ""}))["project"] is None


@pytest.mark.parametrize("value", ["other", "abc", "²", "-1", "9" * 30, "99999999"])
def test_a_project_the_user_cannot_see_is_not_found(client, member, other_member, value):
    others = project_create(actor=other_member, name="Otto's")
    client.force_login(member)

    response = client.get(LIVE_URL, {"project": str(others.pk) if value == "other" else value})

    assert response.status_code == 404


def test_a_site_manager_gets_the_projects_of_the_tasks_shown_not_every_project(
    client, manager, member, other_member
):
    shown = TaskFactory(owner=member)
    project_create(actor=other_member, name="No task shown")
    client.force_login(manager)

    data = initial_data(client.get(LIVE_URL))

    assert [t["id"] for t in data["tasks"]] == [shown.pk]
    assert {p["id"]: p["role"] for p in data["projects"]} == {
        personal_project_create(user=manager).pk: "admin",
        shown.project_id: None,  # not a member: `change_any` lets her change its tasks
    }
    assert data["change_any"] is True
    # And any project they may see can be picked.
    others = Project.objects.get(name="No task shown")
    picked = client.get(LIVE_URL, {"project": str(others.pk)})
    assert picked.status_code == 200
    assert initial_data(picked)["tasks"] == []
    # ... and is then in the picker, selected, though no task of it is shown.
    assert others.pk in {p["id"] for p in initial_data(picked)["projects"]}
    assert f'<option value="{others.pk}" selected>No task shown</option>' in (
        picked.content.decode()
    )
