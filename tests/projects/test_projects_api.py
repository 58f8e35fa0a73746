"""/projects/ and /projects/{id}/: list, create, read, change and delete projects, by
project role (admin, member, viewer) and for outsiders."""

import pytest

from activity.models import Event
from files.models import File
from projects.models import Label, Membership, Project
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.files.helpers import media_files
from tests.helpers import assert_error, assert_field_error, page, parse_dt, upload
from tests.projects.helpers import (
    PROJECT_SHAPE,
    PROJECTS_URL,
    archive,
    join,
    listed,
    new_project,
    project_etag,
    project_url,
)

pytestmark = pytest.mark.django_db


# --- list -----------------------------------------------------------------------------


def test_anonymous_cannot_list_or_create_projects(api_client):
    assert_error(api_client.get(PROJECTS_URL), 401, "not_authenticated")
    assert_error(
        api_client.post(PROJECTS_URL, {"name": "x"}, format="json"), 401, "not_authenticated"
    )
    assert not Project.objects.filter(name="x").exists()


def test_a_new_user_lists_only_their_personal_project(outsider, outsider_client):
    body = page(outsider_client.get(PROJECTS_URL))

    assert body["count"] == 1
    [personal] = body["results"]
    assert set(personal) == PROJECT_SHAPE
    assert personal == {
        "id": outsider.personal_project.pk,
        "name": "Personal",
        "description": "",
        "is_personal": True,
        "is_archived": False,
        "role": "admin",
        "members_count": 1,
        "created_at": personal["created_at"],
        "updated_at": personal["updated_at"],
        "version": 1,
    }
    assert parse_dt(personal["created_at"]) <= parse_dt(personal["updated_at"])


def test_each_member_lists_the_project_with_their_own_role_and_the_member_count(
    project, member_client, other_member_client, viewer_client, outsider_client
):
    for client, role in [
        (member_client, "admin"),
        (other_member_client, "member"),
        (viewer_client, "viewer"),
    ]:
        results = page(client.get(PROJECTS_URL))["results"]
        assert [(p["name"], p["role"], p["members_count"]) for p in results] == [
            ("Personal", "admin", 1),
            ("Garden", role, 3),
        ]
        assert results[1]["id"] == project.pk
        assert results[1]["is_personal"] is False

    assert listed(outsider_client) == [("Personal", "admin")]


def test_the_personal_project_comes_first_even_when_it_is_the_newest(member, client_for):
    older = new_project(member, "Older shared project")
    newcomer = UserFactory(username="nina")
    join(older, newcomer, "member")
    assert newcomer.personal_project.pk > older.pk

    assert listed(client_for(newcomer)) == [
        ("Personal", "admin"),
        ("Older shared project", "member"),
    ]


def test_archived_projects_are_listed_only_when_asked_for(member, member_client, project):
    shelved = new_project(member, "Shelved")
    archive(shelved)

    default = listed(member_client)
    false = listed(member_client, {"archived": "false"})
    true = page(member_client.get(PROJECTS_URL, {"archived": "true"}))["results"]
    every = listed(member_client, {"archived": "all"})

    assert default == false == [("Personal", "admin"), ("Garden", "admin")]
    assert [(p["name"], p["is_archived"]) for p in true] == [("Shelved", True)]
    assert every == [("Personal", "admin"), ("Garden", "admin"), ("Shelved", "admin")]


@pytest.mark.parametrize("value", ["yes", "1", "", "True"])
def test_an_unknown_archived_value_is_a_400_naming_it(member_client, value):
    assert_field_error(member_client.get(PROJECTS_URL, {"archived": value}), "archived")


def test_an_unknown_query_parameter_is_a_400_naming_it(member_client):
    error = assert_field_error(member_client.get(PROJECTS_URL, {"archive": "true"}), "archive")
    assert set(error["fields"]) == {"archive"}


# --- create ---------------------------------------------------------------------------


def test_the_creator_of_a_project_is_its_admin(member, member_client):
    response = member_client.post(
        PROJECTS_URL, {"name": "Kitchen", "description": "Pots and pans"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    project = Project.objects.get(pk=body["id"])
    assert response["ETag"] == f'"{project.pk}-1"'
    assert body == {
        "id": project.pk,
        "name": "Kitchen",
        "description": "Pots and pans",
        "is_personal": False,
        "is_archived": False,
        "role": "admin",
        "members_count": 1,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "version": 1,
    }
    assert list(Membership.objects.filter(project=project).values_list("user", "role")) == [
        (member.pk, "admin")
    ]
    assert Event.objects.filter(type="project.created", subject_id=project.pk).count() == 1


def test_a_project_is_created_without_a_description(member_client):
    response = member_client.post(PROJECTS_URL, {"name": "Bare"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["description"] == ""


@pytest.mark.parametrize(
    ("name", "status"), [("", 400), ("x" * 101, 400), ("x", 201), ("x" * 100, 201)]
)
def test_a_project_name_has_1_to_100_characters(member_client, name, status):
    response = member_client.post(PROJECTS_URL, {"name": name}, format="json")

    if status == 400:
        assert_field_error(response, "name")
        assert not Project.objects.filter(name=name).exists()
    else:
        assert response.status_code == 201, response.content
        assert response.json()["name"] == name


def test_a_project_needs_a_name(member_client):
    assert_field_error(member_client.post(PROJECTS_URL, {}, format="json"), "name")


@pytest.mark.parametrize(
    "field", ["owner", "is_personal", "is_archived", "role", "members_count", "version", "colour"]
)
def test_creating_a_project_with_an_unknown_or_read_only_field_is_a_400_naming_it(
    member_client, field
):
    before = Project.objects.count()

    response = member_client.post(PROJECTS_URL, {"name": "Odd", field: 1}, format="json")

    error = assert_field_error(response, field)
    assert set(error["fields"]) == {field}
    assert Project.objects.count() == before


def test_every_error_of_a_new_project_comes_in_one_answer(member_client):
    response = member_client.post(PROJECTS_URL, {"name": "", "colour": "red"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"name", "colour"}


# --- retrieve -------------------------------------------------------------------------


def test_every_member_reads_the_project_with_its_etag(
    project, member_client, other_member_client, viewer_client
):
    for client, role in [
        (member_client, "admin"),
        (other_member_client, "member"),
        (viewer_client, "viewer"),
    ]:
        response = client.get(project_url(project))

        assert response.status_code == 200, response.content
        assert response["ETag"] == f'"{project.pk}-{project.version}"'
        body = response.json()
        assert set(body) == PROJECT_SHAPE
        assert (body["id"], body["name"], body["role"], body["members_count"]) == (
            project.pk,
            "Garden",
            role,
            3,
        )
        assert body["version"] == project.version


def test_an_outsider_gets_404_for_a_project_as_for_one_that_does_not_exist(
    project, outsider_client
):
    hidden = outsider_client.get(project_url(project))
    missing = outsider_client.get(project_url(999_999))

    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json()


def test_a_project_id_past_the_column_is_a_404(member_client):
    assert_error(member_client.get(project_url("9" * 30)), 404, "not_found")


def test_a_site_manager_reads_a_project_they_are_not_in_with_no_role(project, manager_client):
    response = manager_client.get(project_url(project))

    assert response.status_code == 200, response.content
    assert response.json()["role"] is None
    assert response.json()["members_count"] == 3


def test_if_none_match_with_the_current_etag_answers_304(project, viewer_client):
    etag = viewer_client.get(project_url(project))["ETag"]

    response = viewer_client.get(project_url(project), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_if_none_match_with_an_old_etag_answers_200(project, viewer_client):
    response = viewer_client.get(project_url(project), HTTP_IF_NONE_MATCH=f'"{project.pk}-0"')

    assert response.status_code == 200, response.content
    assert response.json()["id"] == project.pk


def test_if_match_with_a_stale_etag_on_a_read_is_a_412(project, viewer_client):
    stale = f'"{project.pk}-{project.version - 1}"'

    assert_error(
        viewer_client.get(project_url(project), HTTP_IF_MATCH=stale), 412, "precondition_failed"
    )
    current = viewer_client.get(project_url(project), HTTP_IF_MATCH=project_etag(project))
    assert current.status_code == 200, current.content


def test_a_malformed_if_match_is_a_400_naming_it(project, viewer_client):
    response = viewer_client.get(project_url(project), HTTP_IF_MATCH=f"{project.pk}-1")

    error = assert_field_error(response, "If-Match")
    assert error["fields"]["If-Match"] == [
        'Give * or a list of quoted entity tags, e.g. "12-3" (its ETag).'
    ]


# --- change ---------------------------------------------------------------------------


def test_the_admin_renames_and_describes_a_project_and_its_version_grows_by_one(
    project, member_client
):
    version = project.version

    response = member_client.patch(
        project_url(project), {"name": "Allotment", "description": "Plot 7"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["description"], body["version"]) == (
        "Allotment",
        "Plot 7",
        version + 1,
    )
    assert body["role"] == "admin"
    assert body["members_count"] == 3
    assert response["ETag"] == f'"{project.pk}-{version + 1}"'
    project.refresh_from_db()
    assert (project.name, project.description, project.version) == (
        "Allotment",
        "Plot 7",
        version + 1,
    )
    event = Event.objects.filter(type="project.updated", subject_id=project.pk).get()
    assert event.changes == {
        "name": ["Garden", "Allotment"],
        "description": ["", "Plot 7"],
    }


def test_a_patch_that_changes_nothing_keeps_the_version(project, member_client):
    version = project.version

    response = member_client.patch(project_url(project), {"name": "Garden"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["version"] == version
    assert not Event.objects.filter(type="project.updated").exists()


def test_the_admin_archives_and_unarchives_a_project(project, member_client):
    version = project.version

    archived = member_client.patch(project_url(project), {"is_archived": True}, format="json")
    unarchived = member_client.patch(project_url(project), {"is_archived": False}, format="json")

    assert archived.status_code == 200, archived.content
    assert (archived.json()["is_archived"], archived.json()["version"]) == (True, version + 1)
    assert unarchived.status_code == 200, unarchived.content
    assert (unarchived.json()["is_archived"], unarchived.json()["version"]) == (
        False,
        version + 2,
    )


def test_an_archived_project_is_renamed_only_after_it_is_unarchived(project, member_client):
    archive(project)

    response = member_client.patch(project_url(project), {"name": "Renamed"}, format="json")

    assert_error(response, 409, "project_archived")
    project.refresh_from_db()
    assert (project.name, project.is_archived) == ("Garden", True)


def test_a_patch_with_a_stale_if_match_is_a_412_and_changes_nothing(project, member_client):
    stale = project_etag(project)
    member_client.patch(project_url(project), {"description": "first"}, format="json")

    response = member_client.patch(
        project_url(project), {"name": "Second"}, format="json", HTTP_IF_MATCH=stale
    )

    assert_error(response, 412, "precondition_failed")
    project.refresh_from_db()
    assert (project.name, project.description) == ("Garden", "first")


def test_a_patch_with_the_current_if_match_applies(project, member_client):
    response = member_client.patch(
        project_url(project),
        {"name": "Current"},
        format="json",
        HTTP_IF_MATCH=project_etag(project),
    )

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Current"


@pytest.mark.parametrize("who", ["other_member_client", "viewer_client"])
def test_members_and_viewers_cannot_change_a_project(project, request, who):
    client = request.getfixturevalue(who)
    version = project.version

    response = client.patch(
        project_url(project), {"name": "Mine now", "is_archived": True}, format="json"
    )

    assert_error(response, 403, "permission_denied")
    project.refresh_from_db()
    assert (project.name, project.is_archived, project.version) == ("Garden", False, version)


def test_an_outsider_changing_a_project_gets_404(project, outsider_client):
    response = outsider_client.patch(project_url(project), {"name": "Mine now"}, format="json")

    assert_error(response, 404, "not_found")
    project.refresh_from_db()
    assert project.name == "Garden"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": None}, "name"),
        ({"is_archived": "maybe"}, "is_archived"),
        ({"is_personal": True}, "is_personal"),
        ({"members": []}, "members"),
    ],
)
def test_an_invalid_or_unknown_field_in_a_patch_is_a_400_naming_it(
    project, member_client, body, field
):
    version = project.version

    error = assert_field_error(
        member_client.patch(project_url(project), body, format="json"), field
    )

    assert set(error["fields"]) == {field}
    project.refresh_from_db()
    assert (project.name, project.is_archived, project.version) == ("Garden", False, version)


def test_a_patch_with_a_name_of_100_characters_applies(project, member_client):
    response = member_client.patch(project_url(project), {"name": "y" * 100}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "y" * 100


def test_put_is_not_allowed_on_a_project(project, member_client):
    response = member_client.put(project_url(project), {"name": "Whole"}, format="json")

    assert_error(response, 405, "method_not_allowed")


# --- delete ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["other_member_client", "viewer_client"])
def test_members_and_viewers_cannot_delete_a_project(project, request, who):
    response = request.getfixturevalue(who).delete(project_url(project))

    assert_error(response, 403, "permission_denied")
    assert Project.objects.filter(pk=project.pk).exists()


def test_an_outsider_deleting_a_project_gets_404(project, outsider_client):
    assert_error(outsider_client.delete(project_url(project)), 404, "not_found")
    assert Project.objects.filter(pk=project.pk).exists()


def test_a_personal_project_cannot_be_deleted(member, member_client):
    personal = member.personal_project

    response = member_client.delete(project_url(personal))

    assert_error(response, 409, "personal_project")
    assert Project.objects.filter(pk=personal.pk).exists()


def test_a_delete_with_a_stale_if_match_is_a_412_and_deletes_nothing(project, member_client):
    stale = project_etag(project)
    member_client.patch(project_url(project), {"description": "moved on"}, format="json")

    response = member_client.delete(project_url(project), HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert Project.objects.filter(pk=project.pk).exists()


def test_the_admin_deletes_a_project_with_its_tasks_labels_and_attachments_whose_events_stay(
    project,
    member,
    other_member,
    member_client,
    other_member_client,
    media_root,
    committed,
):
    mine = TaskFactory(owner=member, project=project, title="Dig")
    theirs = TaskFactory(owner=other_member, project=project, assignee=member, title="Rake")
    elsewhere = TaskFactory(owner=member, title="Personal errand")
    label = member_client.post(
        f"{project_url(project)}labels/", {"name": "Soil", "color": "#663300"}, format="json"
    )
    assert label.status_code == 201, label.content
    attached = upload(other_member_client, "png", task=theirs)
    kept = upload(member_client, "pdf", task=elsewhere)
    assert len(media_files(media_root)) == 2
    task_events = set(
        Event.objects.filter(
            subject_id__in=[mine.pk, theirs.pk], type__startswith="task."
        ).values_list("id", flat=True)
    )
    label_event = Event.objects.get(type="label.created", subject_id=label.json()["id"])

    with committed():
        response = member_client.delete(project_url(project), HTTP_IF_MATCH=project_etag(project))

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Membership.objects.filter(project_id=project.pk).exists()
    assert list(Task.objects.values_list("title", flat=True)) == ["Personal errand"]
    assert not Label.objects.filter(project_id=project.pk).exists()
    assert list(File.objects.values_list("id", flat=True)) == [kept["id"]]
    assert not File.objects.filter(pk=attached["id"]).exists()
    assert len(media_files(media_root)) == 1
    # The history stays in the outbox, with the project's own deletion.
    assert task_events <= set(Event.objects.values_list("id", flat=True))
    assert Event.objects.filter(pk=label_event.pk).exists()
    deleted = Event.objects.get(type="project.deleted", subject_id=project.pk)
    assert (deleted.actor_id, deleted.project_id, deleted.data["name"]) == (
        member.pk,
        project.pk,
        "Garden",
    )
    assert_error(member_client.get(project_url(project)), 404, "not_found")
    assert_error(other_member_client.get(f"/api/v1/tasks/{theirs.pk}/"), 404, "not_found")


def test_a_site_admin_deletes_a_project_they_are_not_in(project, admin_client):
    response = admin_client.delete(project_url(project))

    assert response.status_code == 204, response.content
    assert not Project.objects.filter(pk=project.pk).exists()


def test_a_site_manager_cannot_delete_a_project_they_are_not_in(project, manager_client):
    assert_error(manager_client.delete(project_url(project)), 403, "permission_denied")
    assert Project.objects.filter(pk=project.pk).exists()
