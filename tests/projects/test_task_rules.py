"""The rules projects set for tasks: where a new task goes, who writes and deletes, who
may be assigned, moving between projects, archived projects and the project filters.
Site managers and admins keep their version-1 powers over every task."""

import pytest

from activity.models import Event
from tasks.models import Task
from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, assert_error, assert_field_error, task_url
from tests.projects.helpers import archive, new_project
from tests.tasks.helpers import STATS_URL, list_ids

pytestmark = pytest.mark.django_db

NOT_WRITER = "The assignee must be a member of the project who may write."


@pytest.fixture
def orchard(member, other_member, viewer):
    """ "Orchard": Otto its admin, Vera a member, Mia a viewer."""
    return new_project(other_member, "Orchard", (viewer, "member"), (member, "viewer"))


@pytest.fixture
def garden_task(project, member):
    """Mia's task in Garden, unassigned."""
    return TaskFactory(owner=member, project=project, title="Dig the beds")


@pytest.fixture
def ottos_task(project, other_member):
    """Otto's task in Garden, assigned to himself."""
    return TaskFactory(
        owner=other_member, project=project, assignee=other_member, title="Prune the roses"
    )


def assert_unchanged(task):
    row = Task.objects.get(pk=task.pk)
    assert (row.project_id, row.title, row.assignee_id, row.version) == (
        task.project_id,
        task.title,
        task.assignee_id,
        task.version,
    )


def stats_total(client, params=None):
    response = client.get(STATS_URL, params or {})
    assert response.status_code == 200, response.content
    return response.json()["total"]


# --- where a new task goes ------------------------------------------------------------


def test_a_task_posted_without_a_project_goes_into_the_personal_project(member, member_client):
    response = member_client.post(TASKS_URL, {"title": "Call the plumber"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["project"], body["owner"]) == (member.personal_project.pk, member.pk)
    assert Task.objects.get(pk=body["id"]).project_id == member.personal_project.pk


def test_a_task_posted_without_a_project_makes_a_missing_personal_project(member, member_client):
    from projects.models import Project

    Project.objects.filter(personal_owner=member).delete()

    response = member_client.post(TASKS_URL, {"title": "Start over"}, format="json")

    assert response.status_code == 201, response.content
    personal = Project.objects.get(personal_owner=member)
    assert response.json()["project"] == personal.pk
    assert Task.objects.get(pk=response.json()["id"]).project_id == personal.pk


def test_a_task_posted_without_a_project_is_refused_while_the_personal_one_is_archived(
    member, member_client
):
    archive(member.personal_project)

    response = member_client.post(TASKS_URL, {"title": "Later"}, format="json")

    assert_error(response, 409, "project_archived")
    assert not Task.objects.filter(title="Later").exists()


@pytest.mark.parametrize(
    ("who", "user"), [("member_client", "member"), ("other_member_client", "other_member")]
)
def test_a_task_posted_into_a_project_one_writes_in_goes_there(project, request, who, user):
    response = request.getfixturevalue(who).post(
        TASKS_URL, {"title": "Sow", "project": project.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["project"], body["owner"]) == (project.pk, request.getfixturevalue(user).pk)
    event = Event.objects.get(type="task.created", subject_id=body["id"])
    assert event.project_id == project.pk


def test_a_viewer_cannot_post_a_task_into_the_project(project, viewer_client):
    response = viewer_client.post(TASKS_URL, {"title": "Sow", "project": project.pk}, format="json")

    assert_error(response, 403, "permission_denied")
    assert not Task.objects.filter(title="Sow").exists()


def test_a_task_posted_into_a_project_one_cannot_see_is_a_400_as_for_none(project, outsider_client):
    hidden = outsider_client.post(TASKS_URL, {"title": "Sow", "project": project.pk}, format="json")
    missing = outsider_client.post(TASKS_URL, {"title": "Sow", "project": 999_999}, format="json")

    error = assert_field_error(hidden, "project")
    assert error["fields"] == {"project": [f"No project with id {project.pk} that you can see."]}
    assert_field_error(missing, "project")
    assert not Task.objects.filter(title="Sow").exists()


# --- assignees ------------------------------------------------------------------------


@pytest.mark.parametrize("assignee", ["member", "other_member"])
def test_a_member_or_admin_of_the_project_may_be_assigned(
    project, other_member_client, request, assignee
):
    user = request.getfixturevalue(assignee)

    response = other_member_client.post(
        TASKS_URL, {"title": "Sow", "project": project.pk, "assignee": user.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["assignee"] == user.pk


@pytest.mark.parametrize("assignee", ["viewer", "outsider"])
def test_a_viewer_or_a_non_member_cannot_be_assigned_a_new_task(
    project, member_client, request, assignee
):
    user = request.getfixturevalue(assignee)

    response = member_client.post(
        TASKS_URL, {"title": "Sow", "project": project.pk, "assignee": user.pk}, format="json"
    )

    error = assert_field_error(response, "assignee")
    assert error["fields"] == {"assignee": [NOT_WRITER]}
    assert not Task.objects.filter(title="Sow").exists()


def test_nobody_else_is_assigned_a_task_of_a_personal_project(member_client, other_member):
    response = member_client.post(
        TASKS_URL, {"title": "Mine", "assignee": other_member.pk}, format="json"
    )

    assert_field_error(response, "assignee")
    assert not Task.objects.filter(title="Mine").exists()


@pytest.mark.parametrize("assignee", ["viewer", "outsider"])
def test_a_viewer_or_a_non_member_cannot_be_assigned_an_existing_task(
    garden_task, member_client, request, assignee
):
    user = request.getfixturevalue(assignee)

    response = member_client.patch(task_url(garden_task), {"assignee": user.pk}, format="json")

    error = assert_field_error(response, "assignee")
    assert error["fields"] == {"assignee": [NOT_WRITER]}
    assert_unchanged(garden_task)


# --- writing and deleting by project role ---------------------------------------------


@pytest.mark.parametrize("who", ["member_client", "other_member_client"])
def test_admins_and_members_change_any_task_of_the_project(garden_task, request, who):
    response = request.getfixturevalue(who).patch(
        task_url(garden_task), {"title": "Dig deeper"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["version"]) == (
        "Dig deeper",
        garden_task.version + 1,
    )


def test_a_viewer_reads_but_cannot_change_a_task(garden_task, viewer_client):
    read = viewer_client.get(task_url(garden_task))
    response = viewer_client.patch(task_url(garden_task), {"title": "Mine"}, format="json")

    assert read.status_code == 200, read.content
    assert read.json()["title"] == "Dig the beds"
    assert_error(response, 403, "permission_denied")
    assert_unchanged(garden_task)


def test_an_outsider_gets_404_for_a_projects_task(garden_task, outsider_client):
    assert_error(outsider_client.get(task_url(garden_task)), 404, "not_found")
    assert_error(
        outsider_client.patch(task_url(garden_task), {"title": "x"}, format="json"),
        404,
        "not_found",
    )
    assert_error(outsider_client.delete(task_url(garden_task)), 404, "not_found")
    assert_unchanged(garden_task)


def test_a_member_deletes_a_task_they_created(ottos_task, other_member_client):
    response = other_member_client.delete(task_url(ottos_task))

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=ottos_task.pk).exists()


def test_a_member_cannot_delete_a_task_someone_else_created(garden_task, other_member_client):
    response = other_member_client.delete(task_url(garden_task))

    assert_error(response, 403, "permission_denied")
    assert Task.objects.filter(pk=garden_task.pk).exists()


def test_the_project_admin_deletes_any_task_of_the_project(ottos_task, member_client):
    response = member_client.delete(task_url(ottos_task))

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=ottos_task.pk).exists()


def test_a_creator_made_viewer_can_no_longer_delete_their_task(
    project, ottos_task, member_client, other_member, other_member_client
):
    demoted = member_client.patch(
        f"/api/v1/projects/{project.pk}/members/{other_member.pk}/",
        {"role": "viewer"},
        format="json",
    )
    assert demoted.status_code == 200, demoted.content

    response = other_member_client.delete(task_url(ottos_task))

    assert_error(response, 403, "permission_denied")
    assert Task.objects.filter(pk=ottos_task.pk).exists()


def test_a_viewer_cannot_delete_a_task(garden_task, viewer_client):
    assert_error(viewer_client.delete(task_url(garden_task)), 403, "permission_denied")
    assert Task.objects.filter(pk=garden_task.pk).exists()


# --- moving between projects ----------------------------------------------------------


def test_a_task_moves_to_a_project_where_the_mover_writes_too(
    project, orchard, ottos_task, other_member, other_member_client, viewer_client
):
    response = other_member_client.patch(
        task_url(ottos_task), {"project": orchard.pk}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["project"], body["assignee"], body["version"]) == (
        orchard.pk,
        other_member.pk,
        ottos_task.version + 1,
    )
    assert Task.objects.get(pk=ottos_task.pk).project_id == orchard.pk
    event = Event.objects.filter(type="task.updated", subject_id=ottos_task.pk).get()
    assert (event.project_id, event.previous_project_id, event.changes) == (
        orchard.pk,
        project.pk,
        {"project": [project.pk, orchard.pk]},
    )
    # Vera, a viewer of Garden, writes in Orchard now.
    assert (
        viewer_client.patch(task_url(ottos_task), {"title": "x"}, format="json").status_code == 200
    )


def test_moving_a_task_to_a_project_one_only_views_is_a_403(orchard, garden_task, member_client):
    response = member_client.patch(task_url(garden_task), {"project": orchard.pk}, format="json")

    assert_error(response, 403, "permission_denied")
    assert_unchanged(garden_task)


def test_moving_a_task_out_of_a_project_one_only_views_is_a_403(
    orchard, garden_task, viewer_client
):
    response = viewer_client.patch(task_url(garden_task), {"project": orchard.pk}, format="json")

    assert_error(response, 403, "permission_denied")
    assert_unchanged(garden_task)


def test_moving_a_task_to_a_project_one_cannot_see_is_a_400(
    ottos_task, outsider, other_member_client
):
    hidden = outsider.personal_project

    response = other_member_client.patch(
        task_url(ottos_task), {"project": hidden.pk}, format="json"
    )

    error = assert_field_error(response, "project")
    assert error["fields"] == {"project": [f"No project with id {hidden.pk} that you can see."]}
    assert_unchanged(ottos_task)


def test_a_task_moves_only_with_an_assignee_who_writes_in_the_new_project(
    project, orchard, member, other_member_client
):
    # Mia is the admin of Garden but only a viewer of Orchard.
    task = TaskFactory(owner=member, project=project, assignee=member, title="Mia's")

    refused = other_member_client.patch(task_url(task), {"project": orchard.pk}, format="json")
    unassigned = other_member_client.patch(
        task_url(task), {"project": orchard.pk, "assignee": None}, format="json"
    )

    error = assert_field_error(refused, "assignee")
    assert error["fields"] == {"assignee": [NOT_WRITER]}
    assert unassigned.status_code == 200, unassigned.content
    assert (unassigned.json()["project"], unassigned.json()["assignee"]) == (orchard.pk, None)


def test_moving_a_task_to_the_project_it_is_in_changes_nothing(garden_task, project, member_client):
    response = member_client.patch(task_url(garden_task), {"project": project.pk}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["version"] == garden_task.version
    assert_unchanged(garden_task)


# --- archived projects ----------------------------------------------------------------


def test_an_archived_projects_tasks_are_read_but_not_written(
    project, garden_task, member, member_client
):
    archive(project)

    read = member_client.get(task_url(garden_task))
    changed = member_client.patch(task_url(garden_task), {"title": "x"}, format="json")
    replaced = member_client.put(task_url(garden_task), {"title": "x"}, format="json")
    deleted = member_client.delete(task_url(garden_task))
    created = member_client.post(TASKS_URL, {"title": "New", "project": project.pk}, format="json")

    assert read.status_code == 200, read.content
    assert read.json()["title"] == "Dig the beds"
    for response in (changed, replaced, deleted, created):
        assert_error(response, 409, "project_archived")
    assert_unchanged(garden_task)
    assert not Task.objects.filter(title="New").exists()


def test_a_task_moves_neither_into_nor_out_of_an_archived_project(
    member, project, garden_task, member_client
):
    shelved = new_project(member, "Shelved")
    shelved_task = TaskFactory(owner=member, project=shelved, title="Shelved task")
    archive(shelved)

    into = member_client.patch(task_url(garden_task), {"project": shelved.pk}, format="json")
    out_of = member_client.patch(task_url(shelved_task), {"project": project.pk}, format="json")

    assert_error(into, 409, "project_archived")
    assert_error(out_of, 409, "project_archived")
    assert_unchanged(garden_task)
    assert_unchanged(shelved_task)


def test_an_archived_projects_tasks_are_left_out_of_lists_unless_asked_for(
    member, project, garden_task, member_client, committed
):
    personal = TaskFactory(owner=member, title="Personal")
    assert set(list_ids(member_client)) == {garden_task.pk, personal.pk}

    with committed():
        archived = member_client.patch(
            f"/api/v1/projects/{project.pk}/", {"is_archived": True}, format="json"
        )
    assert archived.status_code == 200, archived.content

    assert list_ids(member_client) == [personal.pk]
    assert list_ids(member_client, {"include_archived": "false"}) == [personal.pk]
    assert set(list_ids(member_client, {"include_archived": "true"})) == {
        garden_task.pk,
        personal.pk,
    }
    assert list_ids(member_client, {"project": project.pk}) == []
    assert list_ids(member_client, {"project": project.pk, "include_archived": "true"}) == [
        garden_task.pk
    ]


def test_the_statistics_leave_archived_projects_out_unless_asked_for(
    member, project, garden_task, member_client
):
    TaskFactory(owner=member, title="Personal")
    archive(project)

    assert stats_total(member_client) == 1
    assert stats_total(member_client, {"include_archived": "false"}) == 1
    assert stats_total(member_client, {"include_archived": "true"}) == 2
    assert stats_total(member_client, {"project": project.pk}) == 0
    assert stats_total(member_client, {"project": project.pk, "include_archived": "true"}) == 1


@pytest.mark.parametrize("url", [TASKS_URL, STATS_URL])
@pytest.mark.parametrize("value", ["yes", "1", "TRUE", ""])
def test_an_unknown_include_archived_value_is_a_400_naming_it(member_client, url, value):
    assert_field_error(member_client.get(url, {"include_archived": value}), "include_archived")


# --- the project filter ---------------------------------------------------------------


@pytest.fixture
def spread(member, project, orchard):
    """One of Mia's tasks in each of her projects: personal, Garden, and Orchard (by
    Otto: she only views it)."""
    return {
        "personal": TaskFactory(owner=member, title="At home"),
        "garden": TaskFactory(owner=member, project=project, title="In the garden"),
        "orchard": TaskFactory(owner=orchard.memberships.get(role="admin").user, project=orchard),
    }


def test_the_list_shows_every_visible_project_without_a_filter(spread, member_client):
    assert set(list_ids(member_client)) == {task.pk for task in spread.values()}


@pytest.mark.parametrize("form", ["comma", "repeated", "mixed"])
def test_the_list_filters_on_several_projects(project, orchard, spread, member_client, form):
    personal = spread["personal"].project_id
    query = {
        "comma": f"project={project.pk},{orchard.pk}",
        "repeated": f"project={project.pk}&project={orchard.pk}",
        "mixed": f"project={project.pk},{orchard.pk}&project={personal}",
    }[form]
    expected = {spread["garden"].pk, spread["orchard"].pk}
    if form == "mixed":
        expected.add(spread["personal"].pk)

    response = member_client.get(f"{TASKS_URL}?{query}&limit=100")

    assert response.status_code == 200, response.content
    assert {item["id"] for item in response.json()["results"]} == expected


def test_the_statistics_filter_on_several_projects(project, orchard, spread, member_client):
    assert stats_total(member_client, {"project": f"{project.pk},{orchard.pk}"}) == 2
    response = member_client.get(f"{STATS_URL}?project={project.pk}&project={orchard.pk}")
    assert response.status_code == 200, response.content
    assert response.json()["total"] == 2
    assert stats_total(member_client, {"project": project.pk}) == 1


def test_filtering_on_a_project_one_cannot_see_shows_nothing(spread, outsider, member_client):
    assert list_ids(member_client, {"project": outsider.personal_project.pk}) == []


@pytest.mark.parametrize("value", ["x", "1.5", "-1", "1,,x", "9" * 30, "50%", "%s", "%(x)s"])
def test_a_project_filter_that_is_not_an_id_is_a_400_naming_it(member_client, value):
    assert_field_error(member_client.get(TASKS_URL, {"project": value}), "project")
    assert_field_error(member_client.get(STATS_URL, {"project": value}), "project")
    assert_field_error(member_client.get(f"{TASKS_URL}export.csv", {"project": value}), "project")


def test_a_filter_value_with_a_percent_sign_is_quoted_in_its_message(member_client):
    # django-filter %-formats each message: the value goes in as a parameter.
    error = assert_field_error(member_client.get(TASKS_URL, {"label": "7%d"}), "label")

    assert error["fields"]["label"] == ["'7%d' is not an id."]


# --- site managers and admins ---------------------------------------------------------


def test_a_site_manager_sees_and_changes_every_task_but_deletes_none(
    garden_task, spread, manager_client
):
    listed = set(list_ids(manager_client))
    read = manager_client.get(task_url(garden_task))
    changed = manager_client.patch(task_url(garden_task), {"title": "Managed"}, format="json")
    deleted = manager_client.delete(task_url(garden_task))

    assert {garden_task.pk, *(task.pk for task in spread.values())} <= listed
    assert read.status_code == 200, read.content
    assert changed.status_code == 200, changed.content
    assert changed.json()["title"] == "Managed"
    assert_error(deleted, 403, "permission_denied")
    assert Task.objects.filter(pk=garden_task.pk).exists()


def test_a_site_manager_creates_and_moves_tasks_in_projects_they_are_not_in(
    project, orchard, garden_task, manager_client
):
    created = manager_client.post(
        TASKS_URL, {"title": "Managed", "project": project.pk}, format="json"
    )
    moved = manager_client.patch(task_url(garden_task), {"project": orchard.pk}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["project"] == project.pk
    assert moved.status_code == 200, moved.content
    assert moved.json()["project"] == orchard.pk


def test_a_site_manager_still_assigns_only_members_who_write(
    project, garden_task, manager, viewer, manager_client
):
    for assignee in (manager, viewer):
        response = manager_client.patch(
            task_url(garden_task), {"assignee": assignee.pk}, format="json"
        )
        assert_field_error(response, "assignee")
    assert_unchanged(garden_task)


def test_a_site_manager_cannot_write_to_an_archived_project_either(
    project, garden_task, manager_client
):
    archive(project)

    response = manager_client.patch(task_url(garden_task), {"title": "x"}, format="json")

    assert_error(response, 409, "project_archived")
    assert_unchanged(garden_task)


def test_a_site_admin_deletes_a_task_of_a_project_they_are_not_in(garden_task, admin_client):
    response = admin_client.delete(task_url(garden_task))

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=garden_task.pk).exists()
