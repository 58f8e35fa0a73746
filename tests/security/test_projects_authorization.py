"""The OWASP API risks for projects, their members and labels (version 2).

API1: another user's project, a membership in it and its labels answer as missing
ids (404) and change nothing; a task cannot be listed through, created in or moved
into a project one does not belong to (400 naming `project`, as for a missing one);
within a project, viewers only read, and a member deletes only the tasks they
created. API3/API6: the properties the server owns (`is_personal`, `role`,
`members_count`, `version`, `id`, a label's `project`) are refused by name and
change nothing. API5: only a project's admins rename, archive or delete it and
manage its members; viewers manage no labels; a site manager sees every project and
manages none. Adding a member tells nothing about accounts: an unknown username, an
unknown email and an inactive user get the same answer. A personal project takes no
members and is never deleted.

Who is who: Otto is the admin of `team` (Mia a member, Vera a viewer) and of
`theirs`, which Mia is not in (Pia a member, a label, a task of Otto's).
"""

import json
from typing import Any

import pytest
from django.test import TestCase

from accounts.models import User
from activity.models import Event
from projects.models import Label, Membership, Project
from projects.services import label_create, member_add, project_create
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import TASKS_URL, assert_error, assert_field_error, result_ids, task_url

PROJECTS_URL = "/api/v1/projects/"
MISSING_ID = 987654321


def project_url(project_or_id: Any) -> str:
    return f"{PROJECTS_URL}{getattr(project_or_id, 'pk', project_or_id)}/"


def members_url(project_or_id: Any) -> str:
    return f"{project_url(project_or_id)}members/"


def member_url(project_or_id: Any, user_or_id: Any) -> str:
    return f"{members_url(project_or_id)}{getattr(user_or_id, 'pk', user_or_id)}/"


def labels_url(project_or_id: Any) -> str:
    return f"{project_url(project_or_id)}labels/"


def label_url(label_or_id: Any) -> str:
    return f"/api/v1/labels/{getattr(label_or_id, 'pk', label_or_id)}/"


def roles_in(project: Project) -> dict[str, str]:
    return dict(Membership.objects.filter(project=project).values_list("user__username", "role"))


def project_row(project: Project) -> dict[str, Any] | None:
    """The project's columns, None once deleted."""
    return Project.objects.filter(pk=project.pk).values().first()


# --- who is who -------------------------------------------------------------------------


@pytest.fixture
def viewer(db: None) -> User:
    return UserFactory(username="vera", email="vera@example.com")


@pytest.fixture
def viewer_client(viewer: User, client_for: Any) -> Any:
    return client_for(viewer)


@pytest.fixture
def pia(db: None) -> User:
    return UserFactory(username="pia", email="pia@example.com")


@pytest.fixture
def team(other_member: User, member: User, viewer: User) -> Project:
    """Otto's project: Otto its admin, Mia a member, Vera a viewer."""
    project = shared_project(other_member, member)
    shared_project(other_member, viewer, role="viewer")
    return project


@pytest.fixture
def team_label(team: Project, other_member: User) -> Label:
    return label_create(actor=other_member, project_id=team.pk, name="Urgent", color="#cc0000")


@pytest.fixture
def theirs(other_member: User, pia: User) -> Project:
    """Otto's project Mia is not in: Pia a member, a label, a task of Otto's."""
    project = project_create(actor=other_member, name="Otto's secrets")
    with TestCase.captureOnCommitCallbacks(execute=True):
        member_add(actor=other_member, project_id=project.pk, identifier="pia", role="member")
    label_create(actor=other_member, project_id=project.pk, name="Secret", color="#000000")
    TaskFactory(owner=other_member, project=project, title="Otto's secret plan")
    return project


@pytest.fixture
def theirs_label(theirs: Project) -> Label:
    return Label.objects.get(project=theirs)


def state_of(project: Project) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the project, its members, labels,
    tasks and events."""
    return (
        project_row(project),
        roles_in(project),
        sorted(Label.objects.filter(project=project).values_list("id", "name", "color")),
        sorted(Task.objects.filter(project=project).values_list("id", "title", "version")),
        Event.objects.filter(project_id=project.pk).count(),
    )


# --- API1: objects of a project one is not in ----------------------------------------------

# (what, method, body): a valid body, so a refusal cannot be a validation error.
OTHERS_OBJECTS = [
    ("project", "get", None),
    ("project", "patch", {"name": "Taken over", "is_archived": True}),
    ("project", "delete", None),
    ("members", "get", None),
    ("members", "post", {"username": "mia", "role": "admin"}),
    ("member", "patch", {"role": "admin"}),
    ("member", "delete", None),
    ("labels", "get", None),
    ("labels", "post", {"name": "Taken over", "color": "#ff0000"}),
    ("label", "get", None),
    ("label", "patch", {"name": "Taken over", "color": "#ff0000"}),
    ("label", "delete", None),
]
OTHERS_IDS = [f"{what}-{method}" for what, method, _ in OTHERS_OBJECTS]


def url_of(what: str, project_id: int, user_id: int, label_id: int) -> str:
    return {
        "project": project_url(project_id),
        "members": members_url(project_id),
        "member": member_url(project_id, user_id),
        "labels": labels_url(project_id),
        "label": label_url(label_id),
    }[what]


def send(client: Any, method: str, url: str, body: dict[str, Any] | None) -> Any:
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("what", "method", "body"), OTHERS_OBJECTS, ids=OTHERS_IDS)
def test_another_users_project_membership_and_label_answer_as_missing_ones(
    what, method, body, member_client, theirs, theirs_label, pia, committed
):
    before = state_of(theirs)

    with committed():
        response = send(
            member_client, method, url_of(what, theirs.pk, pia.pk, theirs_label.pk), body
        )
    missing = send(member_client, method, url_of(what, MISSING_ID, MISSING_ID, MISSING_ID), body)

    assert_error(response, 404, "not_found")
    assert missing.json() == response.json()
    assert state_of(theirs) == before
    assert "mia" not in roles_in(theirs)


@pytest.mark.parametrize(("what", "method", "body"), OTHERS_OBJECTS, ids=OTHERS_IDS)
def test_the_projects_admin_reaches_the_same_objects(
    what, method, body, other_member_client, theirs, theirs_label, pia, member, committed
):
    # The positive control: the same requests work for Otto.
    with committed():
        response = send(
            other_member_client, method, url_of(what, theirs.pk, pia.pk, theirs_label.pk), body
        )

    assert response.status_code in (200, 201, 204), response.content


def test_a_removed_member_loses_the_project_at_once(
    member_client, other_member_client, team, team_label, member, committed
):
    assert member_client.get(project_url(team)).status_code == 200

    with committed():
        removed = other_member_client.delete(member_url(team, member))

    assert removed.status_code == 204
    assert_error(member_client.get(project_url(team)), 404, "not_found")
    assert_error(member_client.get(label_url(team_label)), 404, "not_found")
    assert team.pk not in result_ids(member_client.get(PROJECTS_URL))


def test_listing_tasks_of_another_users_project_shows_none_of_them(
    member_client, other_member_client, theirs, task
):
    theirs_task = Task.objects.get(project=theirs)

    for query in ({"project": theirs.pk}, {"project": f"{theirs.pk},{task.project_id}"}):
        listed = result_ids(member_client.get(TASKS_URL, query))
        assert theirs_task.pk not in listed, query
    figures = member_client.get(f"{TASKS_URL}statistics/", {"project": theirs.pk}).json()
    assert figures["total"] == 0
    # The positive control: their admin lists it with the same query.
    assert result_ids(other_member_client.get(TASKS_URL, {"project": theirs.pk})) == [
        theirs_task.pk
    ]


def test_a_task_cannot_be_created_in_another_users_project(member_client, member, theirs):
    before = state_of(theirs)

    response = member_client.post(
        TASKS_URL, {"title": "Planted", "project": theirs.pk}, format="json"
    )
    missing = member_client.post(
        TASKS_URL, {"title": "Planted", "project": MISSING_ID}, format="json"
    )

    error = assert_field_error(response, "project")
    assert set(error["fields"]) == {"project"}
    # As for a project that does not exist, but for the id it names.
    assert json.dumps(missing.json()).replace(str(MISSING_ID), str(theirs.pk)) == json.dumps(
        response.json()
    )
    assert state_of(theirs) == before
    assert not Task.objects.filter(owner=member).exists()


def test_a_task_cannot_be_moved_into_another_users_project(member_client, task, theirs):
    before = state_of(theirs)

    response = member_client.patch(task_url(task), {"project": theirs.pk}, format="json")
    missing = member_client.patch(task_url(task), {"project": MISSING_ID}, format="json")

    error = assert_field_error(response, "project")
    assert set(error["fields"]) == {"project"}
    assert json.dumps(missing.json()).replace(str(MISSING_ID), str(theirs.pk)) == json.dumps(
        response.json()
    )
    fresh = Task.objects.get(pk=task.pk)
    assert (fresh.project_id, fresh.version) == (task.project_id, task.version)
    assert state_of(theirs) == before


def test_a_task_cannot_be_moved_into_a_project_one_only_views(
    viewer, viewer_client, team, committed
):
    own = TaskFactory(owner=viewer, title="Vera's own")

    with committed():
        response = viewer_client.patch(task_url(own), {"project": team.pk}, format="json")

    assert_error(response, 403, "permission_denied")
    assert Task.objects.get(pk=own.pk).project_id == own.project_id
    assert not Task.objects.filter(project=team).exists()


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("patch", {"title": "Changed by a viewer"}),
        ("put", {"title": "Changed by a viewer"}),
        ("delete", None),
    ],
)
def test_a_viewer_reads_a_task_but_neither_changes_nor_deletes_it(
    method, body, viewer_client, other_member, team, committed
):
    shared = TaskFactory(owner=other_member, project=team, title="Team plan")
    assert viewer_client.get(task_url(shared)).status_code == 200

    with committed():
        response = send(viewer_client, method, task_url(shared), body)

    assert_error(response, 403, "permission_denied")
    fresh = Task.objects.get(pk=shared.pk)
    assert (fresh.title, fresh.version) == ("Team plan", 1)


def test_a_viewer_cannot_create_a_task_in_the_project(viewer, viewer_client, team):
    response = viewer_client.post(
        TASKS_URL, {"title": "Planted", "project": team.pk}, format="json"
    )

    assert_error(response, 403, "permission_denied")
    assert not Task.objects.filter(project=team).exists()


def test_a_member_cannot_delete_a_task_someone_else_created(
    member_client, other_member, team, committed
):
    shared = TaskFactory(owner=other_member, project=team, title="Otto's")

    with committed():
        response = member_client.delete(task_url(shared))

    assert_error(response, 403, "permission_denied")
    assert Task.objects.filter(pk=shared.pk).exists()


def test_a_member_deletes_a_task_they_created(member, member_client, team, committed):
    own = TaskFactory(owner=member, project=team, title="Mia's")

    with committed():
        response = member_client.delete(task_url(own))

    assert response.status_code == 204
    assert not Task.objects.filter(pk=own.pk).exists()


def test_a_creator_made_viewer_no_longer_deletes_their_task(
    member, member_client, other_member_client, team, committed
):
    own = TaskFactory(owner=member, project=team, title="Mia's")
    with committed():
        demoted = other_member_client.patch(
            member_url(team, member), {"role": "viewer"}, format="json"
        )
    assert demoted.status_code == 200, demoted.content

    with committed():
        response = member_client.delete(task_url(own))

    assert_error(response, 403, "permission_denied")
    assert Task.objects.filter(pk=own.pk).exists()


def test_a_project_admin_deletes_a_task_someone_else_created(
    member, other_member_client, team, committed
):
    own = TaskFactory(owner=member, project=team, title="Mia's")

    with committed():
        response = other_member_client.delete(task_url(own))

    assert response.status_code == 204
    assert not Task.objects.filter(pk=own.pk).exists()


# --- API3 / API6: properties the server owns -------------------------------------------------

SERVER_OWNED = {
    "is_personal": True,
    "role": "admin",
    "members_count": 99,
    "version": 99,
    "id": 424242,
    "created_at": "2000-01-01T00:00:00Z",
    "personal_owner": 1,
}


def test_a_new_project_refuses_every_property_the_server_owns_at_once(member_client, member):
    response = member_client.post(PROJECTS_URL, {"name": "Forged", **SERVER_OWNED}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == set(SERVER_OWNED)
    assert not Project.objects.filter(name="Forged").exists()


@pytest.mark.parametrize(("field", "value"), SERVER_OWNED.items())
def test_a_new_project_refuses_a_property_the_server_owns(field, value, member_client):
    response = member_client.post(PROJECTS_URL, {"name": "Forged", field: value}, format="json")

    error = assert_field_error(response, field)
    assert set(error["fields"]) == {field}
    assert not Project.objects.filter(name="Forged").exists()


@pytest.mark.parametrize(("field", "value"), SERVER_OWNED.items())
def test_a_project_update_refuses_a_property_the_server_owns(
    field, value, other_member_client, team, committed
):
    before = state_of(team)

    with committed():
        response = other_member_client.patch(
            project_url(team), {"name": "Renamed", field: value}, format="json"
        )

    error = assert_field_error(response, field)
    assert set(error["fields"]) == {field}
    assert state_of(team) == before


@pytest.mark.parametrize("value", [False, True])
def test_a_personal_project_stays_personal(value, member, member_client, committed):
    personal = Project.objects.get(personal_owner=member)
    before = state_of(personal)

    with committed():
        response = member_client.patch(project_url(personal), {"is_personal": value}, format="json")

    assert_field_error(response, "is_personal")
    assert state_of(personal) == before


def test_a_label_cannot_be_moved_into_another_project(member_client, team_label, theirs, committed):
    before = state_of(theirs)

    with committed():
        response = member_client.patch(
            label_url(team_label), {"project": theirs.pk, "name": "Moved"}, format="json"
        )

    error = assert_field_error(response, "project")
    assert set(error["fields"]) == {"project"}
    fresh = Label.objects.get(pk=team_label.pk)
    assert (fresh.project_id, fresh.name) == (team_label.project_id, "Urgent")
    assert state_of(theirs) == before


def test_a_label_cannot_be_created_for_another_project_through_ones_own(
    member_client, team, theirs, committed
):
    before = state_of(theirs)

    with committed():
        response = member_client.post(
            labels_url(team),
            {"name": "Planted", "color": "#ff0000", "project": theirs.pk},
            format="json",
        )

    assert_field_error(response, "project")
    assert not Label.objects.filter(name="Planted").exists()
    assert state_of(theirs) == before


@pytest.mark.parametrize(
    "extra", [{"user": {"id": 1, "username": "mia"}}, {"added_at": "2000-01-01T00:00:00Z"}]
)
def test_a_membership_change_refuses_the_properties_the_server_owns(
    extra, other_member_client, team, viewer, committed
):
    before = state_of(team)

    with committed():
        response = other_member_client.patch(
            member_url(team, viewer), {"role": "admin", **extra}, format="json"
        )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == set(extra)
    assert state_of(team) == before


# --- API5: what only a project's admins may do ---------------------------------------------


@pytest.mark.parametrize(
    ("target", "role"),
    [
        ("member", "admin"),
        ("other_member", "viewer"),
        ("other_member", "member"),
        ("viewer", "member"),
    ],
    ids=["herself-to-admin", "the-admin-to-viewer", "the-admin-to-member", "a-viewer-to-member"],
)
def test_a_member_cannot_change_roles(target, role, request, member_client, team, committed):
    user = request.getfixturevalue(target)
    before = state_of(team)

    with committed():
        response = member_client.patch(member_url(team, user), {"role": role}, format="json")

    assert_error(response, 403, "permission_denied")
    assert state_of(team) == before


@pytest.mark.parametrize("role", ["member", "admin", "viewer"])
def test_a_member_cannot_add_members(role, member_client, team, pia, committed):
    before = state_of(team)

    with committed():
        response = member_client.post(
            members_url(team), {"username": "pia", "role": role}, format="json"
        )

    assert_error(response, 403, "permission_denied")
    assert state_of(team) == before


def test_a_member_cannot_remove_another_member(member_client, team, viewer, committed):
    before = state_of(team)

    with committed():
        response = member_client.delete(member_url(team, viewer))

    assert_error(response, 403, "permission_denied")
    assert state_of(team) == before


def test_a_member_may_leave(member, member_client, team, committed):
    # The one membership change a member makes: their own leaving.
    with committed():
        response = member_client.delete(member_url(team, member))

    assert response.status_code == 204
    assert "mia" not in roles_in(team)


@pytest.mark.parametrize(
    ("method", "body"),
    [("patch", {"name": "Taken over"}), ("patch", {"is_archived": True}), ("delete", None)],
    ids=["rename", "archive", "delete"],
)
@pytest.mark.parametrize("caller", ["member", "viewer"])
def test_only_a_projects_admin_renames_archives_or_deletes_it(
    method, body, caller, request, team, committed
):
    client = request.getfixturevalue(f"{caller}_client")
    before = state_of(team)

    with committed():
        response = send(client, method, project_url(team), body)

    assert_error(response, 403, "permission_denied")
    assert state_of(team) == before


def test_the_projects_admin_manages_its_members(other_member_client, team, viewer, pia, committed):
    # The positive control of the refusals above.
    with committed():
        added = other_member_client.post(
            members_url(team), {"email": "pia@example.com", "role": "viewer"}, format="json"
        )
        changed = other_member_client.patch(
            member_url(team, viewer), {"role": "member"}, format="json"
        )

    assert added.status_code == 201, added.content
    assert changed.status_code == 200, changed.content
    assert roles_in(team) == {"otto": "admin", "mia": "member", "vera": "member", "pia": "viewer"}


@pytest.mark.parametrize(
    ("method", "what", "body"),
    [
        ("post", "labels", {"name": "Mine", "color": "#00ff00"}),
        ("patch", "label", {"name": "Renamed"}),
        ("delete", "label", None),
    ],
    ids=["create", "rename", "delete"],
)
def test_a_viewer_manages_no_labels(
    method, what, body, viewer_client, member_client, team, team_label, committed
):
    url = labels_url(team) if what == "labels" else label_url(team_label)
    before = state_of(team)
    assert viewer_client.get(labels_url(team)).status_code == 200

    with committed():
        response = send(viewer_client, method, url, body)

    assert_error(response, 403, "permission_denied")
    assert state_of(team) == before
    # The positive control: a member may.
    with committed():
        assert send(member_client, method, url, body).status_code in (200, 201, 204)


def test_a_site_manager_sees_every_project_but_manages_none(
    manager, manager_client, theirs, pia, committed
):
    before = state_of(theirs)
    assert manager_client.get(project_url(theirs)).status_code == 200

    with committed():
        answers = [
            manager_client.patch(project_url(theirs), {"name": "Managed"}, format="json"),
            manager_client.delete(project_url(theirs)),
            manager_client.post(members_url(theirs), {"username": "manon"}, format="json"),
            manager_client.patch(member_url(theirs, pia), {"role": "admin"}, format="json"),
            manager_client.delete(member_url(theirs, pia)),
        ]

    for response in answers:
        assert_error(response, 403, "permission_denied")
    assert state_of(theirs) == before


# --- adding members tells nothing about accounts -------------------------------------------


def test_unknown_and_inactive_users_cannot_be_told_apart_when_adding_members(
    other_member_client, team, pia, committed
):
    inactive = UserFactory(username="ina", email="ina@example.com")
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    before = state_of(team)

    with committed():
        answers = [
            other_member_client.post(members_url(team), body, format="json")
            for body in (
                {"username": "nobody"},
                {"email": "nobody@example.com"},
                {"username": "ina"},
                {"email": "ina@example.com"},
                {"username": "ina@example.com"},
            )
        ]

    assert_error(answers[0], 400, "validation_error")
    # The same answer each time, but for the field named: the one the client used.
    by_username, by_email = answers[0].json(), answers[1].json()
    assert by_email["error"] == {
        **by_username["error"],
        "fields": {
            "email": ["No active user has this username or email, or they cannot be added."]
        },
    }
    expected = [by_username, by_email, by_username, by_email, by_username]
    assert [(a.status_code, a.json()) for a in answers] == [(400, body) for body in expected]
    assert state_of(team) == before
    # The positive control: an active user is added by email.
    with committed():
        added = other_member_client.post(
            members_url(team), {"email": "pia@example.com"}, format="json"
        )
    assert added.status_code == 201, added.content


# --- personal projects -------------------------------------------------------------------------


def test_a_personal_project_takes_no_members(member, member_client, other_member, committed):
    personal = Project.objects.get(personal_owner=member)
    before = state_of(personal)

    with committed():
        response = member_client.post(
            members_url(personal), {"username": "otto", "role": "member"}, format="json"
        )

    assert_error(response, 409, "personal_project")
    assert state_of(personal) == before


@pytest.mark.parametrize("caller", ["member", "admin"])
def test_a_personal_project_is_never_deleted(caller, request, member, task, committed):
    client = request.getfixturevalue(f"{caller}_client")
    personal = Project.objects.get(personal_owner=member)
    before = state_of(personal)

    with committed():
        response = client.delete(project_url(personal))

    assert_error(response, 409, "personal_project")
    assert state_of(personal) == before
    assert Task.objects.filter(pk=task.pk).exists()
