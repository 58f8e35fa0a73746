"""Labels: /projects/{id}/labels/ to list and create, /labels/{id}/ to read, rename,
recolour and delete. Admins and members manage them, viewers read, outsiders get 404."""

import pytest

from activity.models import Event
from projects.models import Label
from tests.helpers import assert_error, assert_field_error, page
from tests.projects.helpers import LABEL_SHAPE, archive, label_url, labels_url, new_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def label(project, member_client):
    response = member_client.post(
        labels_url(project), {"name": "Urgent", "color": "#ff0000"}, format="json"
    )
    assert response.status_code == 201, response.content
    return Label.objects.get(pk=response.json()["id"])


def names(project):
    return sorted(Label.objects.filter(project=project).values_list("name", flat=True))


# --- list and read --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["member_client", "other_member_client", "viewer_client"])
def test_every_member_lists_the_labels_by_name(project, member_client, request, who):
    for name, color in [("zebra", "#000000"), ("Apple", "#00ff00"), ("mango", "#ffaa00")]:
        created = member_client.post(
            labels_url(project), {"name": name, "color": color}, format="json"
        )
        assert created.status_code == 201, created.content

    body = page(request.getfixturevalue(who).get(labels_url(project)))

    assert body["count"] == 3
    assert all(set(item) == LABEL_SHAPE for item in body["results"])
    assert [(item["name"], item["color"], item["project"]) for item in body["results"]] == [
        ("Apple", "#00ff00", project.pk),
        ("mango", "#ffaa00", project.pk),
        ("zebra", "#000000", project.pk),
    ]


@pytest.mark.parametrize("who", ["member_client", "other_member_client", "viewer_client"])
def test_every_member_reads_a_label(project, label, request, who):
    response = request.getfixturevalue(who).get(label_url(label))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": label.pk,
        "project": project.pk,
        "name": "Urgent",
        "color": "#ff0000",
    }


def test_an_outsider_gets_404_for_the_labels_and_a_label(project, label, outsider_client):
    assert_error(outsider_client.get(labels_url(project)), 404, "not_found")
    hidden = outsider_client.get(label_url(label))
    missing = outsider_client.get(label_url(999_999))
    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json()


def test_anonymous_cannot_read_labels(project, label, api_client):
    assert_error(api_client.get(labels_url(project)), 401, "not_authenticated")
    assert_error(api_client.get(label_url(label)), 401, "not_authenticated")


def test_labels_are_not_created_outside_a_project(label, member_client):
    response = member_client.post(
        "/api/v1/labels/", {"name": "x", "color": "#000000"}, format="json"
    )

    assert_error(response, 404, "not_found")
    assert names(label.project) == ["Urgent"]


# --- create ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["member_client", "other_member_client"])
def test_admins_and_members_create_labels(project, request, who):
    response = request.getfixturevalue(who).post(
        labels_url(project), {"name": "Later", "color": "#00AAff"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    label = Label.objects.get(pk=body["id"])
    # The colour is kept in lower case, as it is compared.
    assert body == {"id": label.pk, "project": project.pk, "name": "Later", "color": "#00aaff"}
    event = Event.objects.get(type="label.created", subject_id=label.pk)
    assert (event.project_id, event.data) == (project.pk, body)


def test_a_viewer_cannot_create_a_label(project, viewer_client):
    response = viewer_client.post(
        labels_url(project), {"name": "Mine", "color": "#123456"}, format="json"
    )

    assert_error(response, 403, "permission_denied")
    assert names(project) == []


def test_an_outsider_creating_a_label_gets_404(project, outsider_client):
    response = outsider_client.post(
        labels_url(project), {"name": "Mine", "color": "#123456"}, format="json"
    )

    assert_error(response, 404, "not_found")
    assert names(project) == []


@pytest.mark.parametrize("name", ["Urgent", "urgent", "URGENT", "uRgEnT"])
def test_a_label_name_is_unique_in_its_project_whatever_the_case(
    project, label, member_client, name
):
    response = member_client.post(
        labels_url(project), {"name": name, "color": "#00ff00"}, format="json"
    )

    assert_error(response, 409, "label_exists")
    assert names(project) == ["Urgent"]


def test_another_project_may_have_a_label_of_the_same_name(member, label, member_client):
    other = new_project(member, "Other")

    response = member_client.post(
        labels_url(other), {"name": "urgent", "color": "#ff0000"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["project"] == other.pk


@pytest.mark.parametrize(
    "color", ["red", "#fff", "#ff00000", "ff0000", "#gg0000", "#ff 000", "", None, 16711680]
)
def test_a_label_color_is_hash_and_six_hex_digits(project, member_client, color):
    response = member_client.post(
        labels_url(project), {"name": "Painted", "color": color}, format="json"
    )

    error = assert_field_error(response, "color")
    assert set(error["fields"]) == {"color"}
    assert names(project) == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "", "color": "#000000"}, {"name"}),
        ({"name": "x" * 51, "color": "#000000"}, {"name"}),
        ({"color": "#000000"}, {"name"}),
        ({"name": "Plain"}, {"color"}),
        ({"name": "Plain", "color": "#000000", "project": 1}, {"project"}),
        ({"name": "", "color": "blue", "shade": 2}, {"name", "color", "shade"}),
    ],
)
def test_an_invalid_label_is_a_400_naming_every_field(project, member_client, body, fields):
    response = member_client.post(labels_url(project), body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == fields
    assert names(project) == []


def test_a_label_name_of_50_characters_is_accepted(project, member_client):
    response = member_client.post(
        labels_url(project), {"name": "x" * 50, "color": "#000000"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "x" * 50


# --- change and delete ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["member_client", "other_member_client"])
def test_admins_and_members_rename_and_recolour_a_label(project, label, request, who):
    response = request.getfixturevalue(who).patch(
        label_url(label), {"name": "Soon", "color": "#0000FF"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": label.pk,
        "project": project.pk,
        "name": "Soon",
        "color": "#0000ff",
    }
    label.refresh_from_db()
    assert (label.name, label.color) == ("Soon", "#0000ff")
    event = Event.objects.get(type="label.updated", subject_id=label.pk)
    assert event.changes == {"name": ["Urgent", "Soon"], "color": ["#ff0000", "#0000ff"]}


def test_a_patch_changes_only_the_fields_sent(label, member_client):
    response = member_client.patch(label_url(label), {"color": "#00ff00"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["color"]) == ("Urgent", "#00ff00")


def test_a_label_may_change_the_case_of_its_own_name(label, member_client):
    response = member_client.patch(label_url(label), {"name": "URGENT"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "URGENT"


def test_renaming_a_label_to_another_labels_name_is_a_409(project, label, member_client):
    other = member_client.post(
        labels_url(project), {"name": "Later", "color": "#00ff00"}, format="json"
    ).json()

    response = member_client.patch(label_url(other), {"name": "urgent"}, format="json")

    assert_error(response, 409, "label_exists")
    assert names(project) == ["Later", "Urgent"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"color": "#abc"}, "color"),
        ({"name": ""}, "name"),
        ({"name": "y" * 51}, "name"),
        ({"project": 1}, "project"),
    ],
)
def test_an_invalid_label_patch_is_a_400_naming_the_field(label, member_client, body, field):
    error = assert_field_error(member_client.patch(label_url(label), body, format="json"), field)

    assert set(error["fields"]) == {field}
    label.refresh_from_db()
    assert (label.name, label.color) == ("Urgent", "#ff0000")


def test_a_viewer_cannot_change_or_delete_a_label(label, viewer_client):
    assert_error(
        viewer_client.patch(label_url(label), {"name": "Mine"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(viewer_client.delete(label_url(label)), 403, "permission_denied")
    label.refresh_from_db()
    assert label.name == "Urgent"


def test_an_outsider_changing_or_deleting_a_label_gets_404(label, outsider_client):
    assert_error(
        outsider_client.patch(label_url(label), {"name": "Mine"}, format="json"),
        404,
        "not_found",
    )
    assert_error(outsider_client.delete(label_url(label)), 404, "not_found")
    label.refresh_from_db()
    assert label.name == "Urgent"


@pytest.mark.parametrize("who", ["member_client", "other_member_client"])
def test_admins_and_members_delete_a_label(project, label, request, who):
    response = request.getfixturevalue(who).delete(label_url(label))

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert names(project) == []
    event = Event.objects.get(type="label.deleted", subject_id=label.pk)
    assert (event.project_id, event.data["name"]) == (project.pk, "Urgent")
    assert_error(request.getfixturevalue(who).get(label_url(label)), 404, "not_found")


def test_put_is_not_allowed_on_a_label(label, member_client):
    response = member_client.put(
        label_url(label), {"name": "Whole", "color": "#000000"}, format="json"
    )

    assert_error(response, 405, "method_not_allowed")


# --- archived projects ----------------------------------------------------------------


def test_an_archived_projects_labels_are_read_but_not_written(project, label, member_client):
    archive(project)

    listed = page(member_client.get(labels_url(project)))
    created = member_client.post(
        labels_url(project), {"name": "New", "color": "#000000"}, format="json"
    )
    changed = member_client.patch(label_url(label), {"name": "Changed"}, format="json")
    deleted = member_client.delete(label_url(label))

    assert [item["name"] for item in listed["results"]] == ["Urgent"]
    assert member_client.get(label_url(label)).json()["name"] == "Urgent"
    assert_error(created, 409, "project_archived")
    assert_error(changed, 409, "project_archived")
    assert_error(deleted, 409, "project_archived")
    assert names(project) == ["Urgent"]
