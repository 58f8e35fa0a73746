"""/projects/{id}/members/: who belongs to a project, adding, changing roles, removing
and leaving; a project keeps an admin, and a member who goes loses their assignments."""

import pytest

from activity.models import Event
from projects.models import Membership
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.helpers import assert_error, assert_field_error, page, parse_dt, task_url
from tests.projects.helpers import (
    MEMBER_SHAPE,
    archive,
    join,
    member_url,
    members,
    members_url,
    new_project,
    project_url,
)

pytestmark = pytest.mark.django_db

NO_SUCH_USER = "No active user has this username or email, or they cannot be added."


@pytest.fixture
def pat(db):
    return UserFactory(username="Pat", email="Pat.Smith@Example.com")


def role_of(project, user):
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


# --- list -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["member_client", "other_member_client", "viewer_client"])
def test_every_member_lists_the_members_with_their_roles(
    project, member, other_member, viewer, request, who
):
    body = page(request.getfixturevalue(who).get(members_url(project)))

    assert body["count"] == 3
    for item in body["results"]:
        assert set(item) == MEMBER_SHAPE
        assert set(item["user"]) == {"id", "username"}
        assert parse_dt(item["added_at"]) is not None
    assert [(m["user"], m["role"]) for m in body["results"]] == [
        ({"id": member.pk, "username": "mia"}, "admin"),
        ({"id": other_member.pk, "username": "otto"}, "member"),
        ({"id": viewer.pk, "username": "vera"}, "viewer"),
    ]


def test_an_outsider_cannot_list_the_members(project, outsider_client):
    assert_error(outsider_client.get(members_url(project)), 404, "not_found")


def test_anonymous_cannot_list_the_members(project, api_client):
    assert_error(api_client.get(members_url(project)), 401, "not_authenticated")


# --- add ------------------------------------------------------------------------------


def test_the_admin_adds_a_member_by_username(project, member, member_client, pat):
    version = project.version

    response = member_client.post(members_url(project), {"username": "Pat"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MEMBER_SHAPE
    assert (body["user"], body["role"]) == ({"id": pat.pk, "username": "Pat"}, "member")
    assert parse_dt(body["added_at"]) is not None
    assert role_of(project, pat) == "member"
    detail = member_client.get(project_url(project)).json()
    assert (detail["members_count"], detail["version"]) == (4, version + 1)
    event = Event.objects.filter(type="project.member_added", subject_id=project.pk).latest("id")
    assert (event.actor_id, event.changes) == (member.pk, {"role": [None, "member"]})
    assert event.data["member"]["user"] == {"id": pat.pk, "username": "Pat"}


@pytest.mark.parametrize(
    "body",
    [
        {"username": "pat"},
        {"username": "PAT"},
        {"email": "pat.smith@example.com"},
        {"email": "PAT.SMITH@EXAMPLE.COM"},
        {"username": "pat.smith@example.com"},
        {"email": "  Pat.Smith@Example.com "},
    ],
)
def test_a_member_is_added_by_username_or_email_whatever_the_case(
    project, member_client, pat, body
):
    response = member_client.post(members_url(project), {**body, "role": "viewer"}, format="json")

    assert response.status_code == 201, response.content
    assert (response.json()["user"]["id"], response.json()["role"]) == (pat.pk, "viewer")
    assert role_of(project, pat) == "viewer"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_a_member_is_added_with_the_role_given(project, member_client, pat, role):
    response = member_client.post(
        members_url(project), {"username": "pat", "role": role}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["role"] == role
    assert role_of(project, pat) == role


def test_an_unknown_and_an_inactive_user_get_the_same_400(project, member_client, pat):
    pat.is_active = False
    pat.save(update_fields=["is_active"])

    unknown = member_client.post(members_url(project), {"username": "nobody"}, format="json")
    inactive = member_client.post(members_url(project), {"username": "pat"}, format="json")
    inactive_by_email = member_client.post(
        members_url(project), {"email": "pat.smith@example.com"}, format="json"
    )

    error = assert_field_error(unknown, "username")
    assert error["fields"] == {"username": [NO_SUCH_USER]}
    assert inactive.status_code == inactive_by_email.status_code == 400
    assert inactive.json() == unknown.json()
    # The field the client used is the one named; nothing else differs.
    by_email = inactive_by_email.json()["error"]
    assert by_email == {**unknown.json()["error"], "fields": {"email": [NO_SUCH_USER]}}
    assert role_of(project, pat) is None


def test_adding_someone_already_a_member_is_a_409(project, member_client, viewer):
    response = member_client.post(
        members_url(project), {"username": "vera", "role": "admin"}, format="json"
    )

    assert_error(response, 409, "conflict")
    assert role_of(project, viewer) == "viewer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "username"),
        ({"username": "pat", "email": "pat.smith@example.com"}, "username"),
        ({"username": "pat", "role": "owner"}, "role"),
        ({"username": "pat", "user": 3}, "user"),
    ],
)
def test_an_invalid_member_to_add_is_a_400_naming_the_field(
    project, member_client, pat, body, field
):
    response = member_client.post(members_url(project), body, format="json")

    assert_field_error(response, field)
    assert role_of(project, pat) is None


@pytest.mark.parametrize("who", ["other_member_client", "viewer_client"])
def test_members_and_viewers_cannot_add_members(project, request, pat, who):
    response = request.getfixturevalue(who).post(
        members_url(project), {"username": "pat"}, format="json"
    )

    assert_error(response, 403, "permission_denied")
    assert role_of(project, pat) is None


def test_an_outsider_adding_a_member_gets_404(project, outsider_client, outsider):
    response = outsider_client.post(members_url(project), {"username": "oscar"}, format="json")

    assert_error(response, 404, "not_found")
    assert role_of(project, outsider) is None


def test_a_personal_project_takes_no_members(member, member_client, pat):
    personal = member.personal_project

    response = member_client.post(members_url(personal), {"username": "pat"}, format="json")

    assert_error(response, 409, "personal_project")
    assert role_of(personal, pat) is None


def test_an_archived_project_takes_no_members(project, member_client, pat):
    archive(project)

    response = member_client.post(members_url(project), {"username": "pat"}, format="json")

    assert_error(response, 409, "project_archived")
    assert role_of(project, pat) is None


def test_a_site_admin_adds_a_member_to_a_project_they_are_not_in(project, admin_client, pat):
    response = admin_client.post(members_url(project), {"username": "pat"}, format="json")

    assert response.status_code == 201, response.content
    assert role_of(project, pat) == "member"


def test_a_site_manager_reads_the_members_but_cannot_add_one(project, manager_client, pat):
    listed = page(manager_client.get(members_url(project)))
    response = manager_client.post(members_url(project), {"username": "pat"}, format="json")

    assert listed["count"] == 3
    assert_error(response, 403, "permission_denied")
    assert role_of(project, pat) is None


def test_adding_a_member_counts_as_a_write_for_the_throttle(project, member_client, pat, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "100/min", "write": "1/min"}
    first = member_client.post(members_url(project), {"username": "vera"}, format="json")
    assert first.status_code == 409, first.content
    assert (first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == ("1", "0")

    response = member_client.post(members_url(project), {"username": "pat"}, format="json")
    read = member_client.get(members_url(project))

    assert_error(response, 429, "throttled")
    assert response["Retry-After"].isdigit()
    assert role_of(project, pat) is None
    assert read.status_code == 200, read.content
    assert (read["X-RateLimit-Limit"], read["X-RateLimit-Remaining"]) == ("100", "99")


# --- change a role --------------------------------------------------------------------


def test_the_admin_changes_a_members_role(project, member, member_client, other_member):
    version = project.version

    response = member_client.patch(
        member_url(project, other_member), {"role": "admin"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == MEMBER_SHAPE
    assert (body["user"], body["role"]) == (
        {"id": other_member.pk, "username": "otto"},
        "admin",
    )
    assert role_of(project, other_member) == "admin"
    assert member_client.get(project_url(project)).json()["version"] == version + 1
    event = Event.objects.get(type="project.member_role_changed", subject_id=project.pk)
    assert (event.actor_id, event.changes) == (member.pk, {"role": ["member", "admin"]})


@pytest.mark.parametrize("who", ["other_member_client", "viewer_client"])
def test_members_and_viewers_cannot_change_roles(project, request, viewer, who):
    response = request.getfixturevalue(who).patch(
        member_url(project, viewer), {"role": "admin"}, format="json"
    )

    assert_error(response, 403, "permission_denied")
    assert role_of(project, viewer) == "viewer"


def test_a_viewer_cannot_promote_themself(project, viewer_client, viewer):
    response = viewer_client.patch(member_url(project, viewer), {"role": "admin"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert role_of(project, viewer) == "viewer"


def test_changing_the_role_of_someone_not_a_member_is_a_404(project, member_client, outsider):
    response = member_client.patch(member_url(project, outsider), {"role": "member"}, format="json")

    assert_error(response, 404, "not_found")
    assert role_of(project, outsider) is None


@pytest.mark.parametrize(
    ("body", "field"), [({}, "role"), ({"role": "owner"}, "role"), ({"role": "admin", "x": 1}, "x")]
)
def test_an_invalid_role_change_is_a_400_naming_the_field(
    project, member_client, viewer, body, field
):
    assert_field_error(member_client.patch(member_url(project, viewer), body, format="json"), field)
    assert role_of(project, viewer) == "viewer"


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_the_last_admin_cannot_be_demoted(project, member, member_client, role):
    response = member_client.patch(member_url(project, member), {"role": role}, format="json")

    assert_error(response, 409, "last_admin")
    assert role_of(project, member) == "admin"


def test_an_admin_steps_down_once_there_is_another(project, member, member_client, other_member):
    promoted = member_client.patch(
        member_url(project, other_member), {"role": "admin"}, format="json"
    )
    assert promoted.status_code == 200, promoted.content

    response = member_client.patch(member_url(project, member), {"role": "member"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["role"] == "member"
    assert (role_of(project, member), role_of(project, other_member)) == ("member", "admin")


# --- remove and leave -----------------------------------------------------------------


def test_the_last_admin_cannot_leave(project, member, member_client):
    response = member_client.delete(member_url(project, member))

    assert_error(response, 409, "last_admin")
    assert role_of(project, member) == "admin"


def test_the_owner_cannot_leave_their_personal_project(member, member_client):
    personal = member.personal_project

    response = member_client.delete(member_url(personal, member))

    assert_error(response, 409, "last_admin")
    assert role_of(personal, member) == "admin"


@pytest.mark.parametrize(
    ("who", "user", "role"),
    [("other_member_client", "other_member", "member"), ("viewer_client", "viewer", "viewer")],
)
def test_a_member_leaves_a_project(project, member_client, request, who, user, role):
    client, leaving = request.getfixturevalue(who), request.getfixturevalue(user)
    version = project.version

    response = client.delete(member_url(project, leaving))

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert role_of(project, leaving) is None
    assert_error(client.get(project_url(project)), 404, "not_found")
    detail = member_client.get(project_url(project)).json()
    assert (detail["members_count"], detail["version"]) == (2, version + 1)
    event = Event.objects.get(type="project.member_removed", subject_id=project.pk)
    assert (event.actor_id, event.changes) == (
        leaving.pk,
        {"role": [role, None]},
    )


@pytest.mark.parametrize(
    ("who", "target"),
    [
        ("other_member_client", "viewer"),
        ("viewer_client", "other_member"),
        ("other_member_client", "member"),
    ],
)
def test_a_member_cannot_remove_someone_else(project, request, who, target):
    removed = request.getfixturevalue(target)
    role = role_of(project, removed)

    response = request.getfixturevalue(who).delete(member_url(project, removed))

    assert_error(response, 403, "permission_denied")
    assert role_of(project, removed) == role


def test_an_outsider_removing_a_member_gets_404(project, outsider_client, viewer):
    assert_error(outsider_client.delete(member_url(project, viewer)), 404, "not_found")
    assert role_of(project, viewer) == "viewer"


def test_removing_someone_not_a_member_is_a_404(project, member_client, outsider):
    assert_error(member_client.delete(member_url(project, outsider)), 404, "not_found")


def test_an_admin_removes_a_member(project, member, member_client, viewer, viewer_client):
    response = member_client.delete(member_url(project, viewer))

    assert response.status_code == 204, response.content
    assert role_of(project, viewer) is None
    assert members(member_client, project) == {"mia": "admin", "otto": "member"}
    assert_error(viewer_client.get(project_url(project)), 404, "not_found")
    event = Event.objects.get(type="project.member_removed", subject_id=project.pk)
    assert (event.actor_id, event.owner_id, event.changes) == (
        member.pk,
        viewer.pk,
        {"role": ["viewer", None]},
    )


def test_nobody_is_removed_from_an_archived_project(project, member_client, viewer):
    archive(project)

    response = member_client.delete(member_url(project, viewer))

    assert_error(response, 409, "project_archived")
    assert role_of(project, viewer) == "viewer"


# --- assignments of those who go ------------------------------------------------------


@pytest.fixture
def ottos_assignments(project, member, other_member):
    """Two tasks of `project` assigned to Otto, one unassigned there, and one assigned
    to him in another project of Mia's, which must keep him."""
    elsewhere = new_project(member, "Elsewhere", (other_member, "member"))
    return {
        "here": [
            TaskFactory(owner=member, project=project, assignee=other_member, title="Weed"),
            TaskFactory(owner=other_member, project=project, assignee=other_member, title="Mow"),
        ],
        "unassigned": TaskFactory(owner=member, project=project, title="Water"),
        "elsewhere": TaskFactory(
            owner=member, project=elsewhere, assignee=other_member, title="Paint"
        ),
    }


def assert_assignments_cleared(ottos_assignments, other_member, actor):
    for task in ottos_assignments["here"]:
        before = task.version
        task.refresh_from_db()
        assert (task.assignee_id, task.version) == (None, before + 1)
        [event] = Event.objects.filter(type="task.updated", subject_id=task.pk)
        assert (event.actor_id, event.changes) == (actor.pk, {"assignee": [other_member.pk, None]})
        assert event.data["assignee"] is None
    unassigned = ottos_assignments["unassigned"]
    assert Task.objects.get(pk=unassigned.pk).version == unassigned.version
    assert Task.objects.get(pk=ottos_assignments["elsewhere"].pk).assignee_id == other_member.pk
    assert not Event.objects.filter(
        type="task.updated",
        subject_id__in=[unassigned.pk, ottos_assignments["elsewhere"].pk],
    ).exists()


def test_removing_a_member_clears_their_assignments_in_the_project_each_with_an_event(
    project, member, member_client, other_member, ottos_assignments, committed
):
    with committed():
        response = member_client.delete(member_url(project, other_member))

    assert response.status_code == 204, response.content
    assert_assignments_cleared(ottos_assignments, other_member, member)
    [weed, _] = ottos_assignments["here"]
    reread = member_client.get(task_url(weed))
    assert reread.status_code == 200, reread.content
    assert reread.json()["assignee"] is None


def test_leaving_clears_ones_own_assignments_in_the_project(
    project, other_member, other_member_client, ottos_assignments
):
    response = other_member_client.delete(member_url(project, other_member))

    assert response.status_code == 204, response.content
    assert_assignments_cleared(ottos_assignments, other_member, other_member)


def test_making_a_member_a_viewer_clears_their_assignments_too(
    project, member, member_client, other_member, ottos_assignments
):
    response = member_client.patch(
        member_url(project, other_member), {"role": "viewer"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["role"] == "viewer"
    assert_assignments_cleared(ottos_assignments, other_member, member)


def test_making_a_member_an_admin_keeps_their_assignments(
    project, member_client, other_member, ottos_assignments
):
    response = member_client.patch(
        member_url(project, other_member), {"role": "admin"}, format="json"
    )

    assert response.status_code == 200, response.content
    for task in ottos_assignments["here"]:
        assert Task.objects.get(pk=task.pk).assignee_id == other_member.pk
    assert not Event.objects.filter(type="task.updated").exists()


def test_a_member_added_back_is_not_assigned_again(
    project, member_client, other_member, ottos_assignments
):
    assert member_client.delete(member_url(project, other_member)).status_code == 204
    join(project, other_member, "member")

    for task in ottos_assignments["here"]:
        assert Task.objects.get(pk=task.pk).assignee_id is None
