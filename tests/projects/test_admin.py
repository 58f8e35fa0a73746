"""Operators manage projects, their members and labels in the Django admin through
the services: each change records its event, and the services' refusals (the last
admin, the personal project, an archived project) are error messages, not 500s."""

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.test import Client

from activity.models import Event
from projects import admin as projects_admin
from projects.errors import (
    LabelNameTakenError,
    LastAdminError,
    PersonalProjectError,
    ProjectArchivedError,
)
from projects.models import Label, Project
from projects.services import (
    label_create,
    member_add,
    member_set_role,
    personal_project_create,
    project_create,
    project_update,
)
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

PROJECTS = "/admin/projects/project/"
LABELS = "/admin/projects/label/"
TASKS = "/admin/tasks/task/"


@pytest.fixture
def operator():
    return UserFactory(username="root", email="root@example.com", superuser=True)


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def team(member, other_member):
    """Mia's project "Team", Otto a member of it."""
    project = project_create(actor=member, name="Team")
    member_add(actor=member, project_id=project.pk, identifier="otto", role="member")
    # As the form opens it: the project's own events start after this.
    Event.objects.filter(project_id=project.pk).delete()
    project.refresh_from_db()
    return project


def change_url(obj) -> str:
    base = PROJECTS if isinstance(obj, Project) else LABELS
    return f"{base}{obj.pk}/change/"


def notes(response) -> list[tuple[int, str]]:
    """The (level, text) of the messages the admin queued for the next page."""
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


def listed(client: Client, url: str, params: dict | None = None) -> set[int]:
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    return {row.pk for row in response.context["cl"].result_list}


def project_form(
    project: Project,
    *,
    roles: dict | None = None,
    remove: tuple = (),
    add: tuple = (),
    **changes,
) -> dict[str, object]:
    """The change form as the browser sends it back: `changes` typed over the project's
    fields, members' `roles` changed ({user: role}), `remove` ticked, `add` rows
    ((user, role), ...) filled in."""
    project.refresh_from_db()
    data: dict[str, object] = {
        "name": project.name,
        "description": project.description,
        "loaded_version": project.version,
    }
    if project.is_archived:
        data["is_archived"] = "on"
    data.update(changes)
    if data.get("is_archived") is False:
        del data["is_archived"]
    rows = list(project.memberships.order_by("added_at", "id"))
    roles = {getattr(user, "pk", user): role for user, role in (roles or {}).items()}
    removed = {getattr(user, "pk", user) for user in remove}
    prefix = "memberships"
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": len(rows) + len(add),
            f"{prefix}-INITIAL_FORMS": len(rows),
            f"{prefix}-MIN_NUM_FORMS": 0,
            f"{prefix}-MAX_NUM_FORMS": 1000,
        }
    )
    for i, row in enumerate(rows):
        data[f"{prefix}-{i}-id"] = row.pk
        data[f"{prefix}-{i}-project"] = project.pk
        data[f"{prefix}-{i}-user"] = row.user_id
        data[f"{prefix}-{i}-role"] = roles.get(row.user_id, row.role)
        if row.user_id in removed:
            data[f"{prefix}-{i}-DELETE"] = "on"
    for j, (user, role) in enumerate(add, start=len(rows)):
        data[f"{prefix}-{j}-project"] = project.pk
        data[f"{prefix}-{j}-user"] = user.pk
        data[f"{prefix}-{j}-role"] = role
    return data


def events_of(project: Project, kind: str = "project.") -> list[Event]:
    return list(Event.objects.filter(project_id=project.pk, type__startswith=kind).order_by("id"))


def roles_of(project: Project) -> dict[str, str]:
    return dict(project.memberships.values_list("user__username", "role"))


# Every page answers


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "team"},
        {"is_archived__exact": "1"},
        {"is_archived__exact": "0"},
        {"personal": "yes"},
        {"personal": "no"},
        {"o": "-1"},
    ],
)
def test_the_project_changelist_answers_with_any_filter(operator_client, team, params):
    assert operator_client.get(PROJECTS, params).status_code == 200


def test_the_project_list_filters_by_archived_and_personal_and_searches_names(
    operator_client, member, team
):
    personal = personal_project_create(user=member)
    archived = project_create(actor=member, name="Old team")
    project_update(actor=member, project_id=archived.pk, data={"is_archived": True})

    assert listed(operator_client, PROJECTS, {"personal": "yes"}) == set(
        Project.objects.filter(personal_owner__isnull=False).values_list("pk", flat=True)
    )
    assert personal.pk in listed(operator_client, PROJECTS, {"personal": "yes"})
    assert listed(operator_client, PROJECTS, {"personal": "no"}) == {team.pk, archived.pk}
    assert listed(operator_client, PROJECTS, {"is_archived__exact": "1"}) == {archived.pk}
    assert archived.pk not in listed(operator_client, PROJECTS, {"is_archived__exact": "0"})
    assert listed(operator_client, PROJECTS, {"q": "TEAM"}) == {team.pk, archived.pk}
    assert listed(operator_client, PROJECTS, {"q": "nothing like it"}) == set()


def test_the_project_list_shows_each_projects_members_count(operator_client, team):
    response = operator_client.get(PROJECTS, {"q": "Team"})

    (row,) = response.context["cl"].result_list
    assert row.members_count == 2
    assert '<td class="field-members">2</td>' in response.content.decode()


def test_the_project_pages_answer(operator_client, member, team):
    personal = personal_project_create(user=member)
    label = label_create(actor=member, project_id=team.pk, name="Bug", color="#ff0000")

    assert operator_client.get(f"{PROJECTS}add/").status_code == 200
    for project in (team, personal):
        response = operator_client.get(change_url(project))
        assert response.status_code == 200
        assert 'name="loaded_version"' in response.content.decode()
        assert operator_client.get(f"{PROJECTS}{project.pk}/delete/").status_code == 200
    for url in (LABELS, f"{LABELS}add/", change_url(label), f"{LABELS}{label.pk}/delete/"):
        assert operator_client.get(url).status_code == 200, url


def test_a_personal_project_offers_no_row_to_add_a_member(operator_client, member, team):
    personal = personal_project_create(user=member)

    shared = operator_client.get(change_url(team)).context["inline_admin_formsets"][0]
    own = operator_client.get(change_url(personal)).context["inline_admin_formsets"][0]

    assert len(shared.formset.extra_forms) == 1
    assert len(own.formset.extra_forms) == 0


def test_projects_are_deleted_one_at_a_time_not_by_the_bulk_action(operator_client, team):
    response = operator_client.get(PROJECTS)

    actions = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert {"archive", "unarchive"} <= set(actions)


# Add and change a project


def test_adding_a_project_creates_it_through_the_service_with_its_members(
    operator_client, operator, member, committed
):
    data = {
        "name": "  Launch  ",
        "description": "  kept as typed",
        "memberships-TOTAL_FORMS": 1,
        "memberships-INITIAL_FORMS": 0,
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
        "memberships-0-user": member.pk,
        "memberships-0-role": "viewer",
    }

    with committed():
        response = operator_client.post(f"{PROJECTS}add/", data)

    assert response.status_code == 302, response.content
    project = Project.objects.get(name="Launch")
    assert project.description == "  kept as typed"
    assert not project.is_personal
    assert roles_of(project) == {"root": "admin", "mia": "viewer"}
    assert [(e.type, e.actor_id) for e in events_of(project)] == [
        ("project.created", operator.pk),
        ("project.member_added", operator.pk),
    ]
    assert events_of(project)[1].changes == {"role": [None, "viewer"]}


def test_renaming_and_archiving_a_project_records_one_updated_event(
    operator_client, operator, team, committed
):
    opened = team.version

    with committed():
        response = operator_client.post(
            change_url(team), project_form(team, name="Renamed", is_archived="on")
        )

    assert response.status_code == 302, response.content
    team.refresh_from_db()
    assert (team.name, team.is_archived, team.version) == ("Renamed", True, opened + 1)
    (event,) = events_of(team)
    assert (event.type, event.actor_id) == ("project.updated", operator.pk)
    assert event.changes == {"name": ["Team", "Renamed"], "is_archived": [False, True]}


def test_saving_a_project_unchanged_writes_nothing(operator_client, team):
    opened = team.version

    response = operator_client.post(change_url(team), project_form(team))

    assert response.status_code == 302, response.content
    team.refresh_from_db()
    assert team.version == opened
    assert events_of(team) == []


def test_the_project_form_refuses_a_project_changed_since_it_was_opened(
    operator_client, member, team
):
    opened = project_form(team, name="Operator's name")
    changed = project_update(actor=member, project_id=team.pk, data={"name": "Mia's name"})

    response = operator_client.post(change_url(team), opened)

    assert response.status_code == 302
    assert response["Location"] == change_url(team)
    assert notes(response) == [(messages.ERROR, projects_admin.STALE_FORM.format(what="project"))]
    team.refresh_from_db()
    assert (team.name, team.version) == ("Mia's name", changed.version)


def test_an_archived_project_takes_no_other_change_and_says_why(operator_client, member, team):
    project_update(actor=member, project_id=team.pk, data={"is_archived": True})

    response = operator_client.post(change_url(team), project_form(team, name="Still here?"))

    assert response.status_code == 302
    assert notes(response) == [(messages.ERROR, ProjectArchivedError.message)]
    team.refresh_from_db()
    assert team.name == "Team"


def test_the_archive_action_archives_through_the_service(
    operator_client, operator, member, team, committed
):
    other = project_create(actor=member, name="Other")
    project_update(actor=member, project_id=other.pk, data={"is_archived": True})

    with committed():
        response = operator_client.post(
            PROJECTS, {"action": "archive", "_selected_action": [team.pk, other.pk]}
        )

    assert response.status_code == 302
    assert notes(response) == [(messages.SUCCESS, "1 project(s) archived; 1 already were.")]
    team.refresh_from_db()
    assert team.is_archived
    (event,) = events_of(team)
    assert (event.type, event.actor_id, event.changes) == (
        "project.updated",
        operator.pk,
        {"is_archived": [False, True]},
    )


# Members


def test_adding_changing_and_removing_members_goes_through_the_services(
    operator_client, operator, member, other_member, team, committed
):
    newcomer = UserFactory(username="nina")
    task = TaskFactory(owner=member, project=team, assignee=other_member)
    opened = team.version

    with committed():
        response = operator_client.post(
            change_url(team),
            project_form(
                team,
                roles={member: "member"},
                remove=(other_member,),
                add=((newcomer, "admin"),),
            ),
        )

    assert response.status_code == 302, response.content
    assert roles_of(team) == {"mia": "member", "nina": "admin"}
    assert [(e.type, e.actor_id, e.changes) for e in events_of(team)] == [
        ("project.member_added", operator.pk, {"role": [None, "admin"]}),
        ("project.member_role_changed", operator.pk, {"role": ["admin", "member"]}),
        ("project.member_removed", operator.pk, {"role": ["member", None]}),
    ]
    # The removed member's assignment was cleared, with its event.
    task.refresh_from_db()
    assert task.assignee_id is None
    assert Event.objects.filter(subject_id=task.pk, type="task.updated").count() == 1
    team.refresh_from_db()
    assert team.version == opened + 3  # one per membership change


def test_the_admin_role_can_be_handed_over_in_one_save(operator_client, member, other_member, team):
    response = operator_client.post(
        change_url(team), project_form(team, roles={member: "viewer", other_member: "admin"})
    )

    assert response.status_code == 302, response.content
    assert notes(response)[0][0] == messages.SUCCESS
    assert roles_of(team) == {"mia": "viewer", "otto": "admin"}


@pytest.mark.parametrize("how", ["demote", "remove"])
def test_the_last_admin_rule_is_shown_as_a_message_and_nothing_changes(
    operator_client, member, other_member, team, how
):
    changes = {"roles": {member: "member"}} if how == "demote" else {"remove": (member,)}
    opened = team.version

    response = operator_client.post(
        change_url(team), project_form(team, name="Not kept either", **changes)
    )

    assert response.status_code == 302
    assert response["Location"] == change_url(team)
    assert notes(response) == [(messages.ERROR, LastAdminError.message)]
    assert roles_of(team) == {"mia": "admin", "otto": "member"}
    team.refresh_from_db()
    assert (team.name, team.version) == ("Team", opened)  # the whole save rolled back
    assert events_of(team) == []


def test_a_personal_project_takes_no_other_member(operator_client, member, other_member):
    personal = personal_project_create(user=member)
    data = project_form(personal, add=((other_member, "member"),))

    response = operator_client.post(change_url(personal), data)

    # The page offers no row for it, and the admin ignores a forged one.
    assert response.status_code == 302
    assert roles_of(personal) == {"mia": "admin"}
    assert events_of(personal, "project.member") == []


def test_adding_someone_already_a_member_is_a_form_error(operator_client, other_member, team):
    response = operator_client.post(
        change_url(team), project_form(team, add=((other_member, "viewer"),))
    )

    assert response.status_code == 200  # the form again, with the error
    assert response.context["errors"]
    assert roles_of(team) == {"mia": "admin", "otto": "member"}


# Delete


def test_deleting_a_project_deletes_it_and_its_tasks_through_the_service(
    operator_client, operator, member, team, committed
):
    task = TaskFactory(owner=member, project=team)

    with committed():
        response = operator_client.post(f"{PROJECTS}{team.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content
    assert response["Location"] == PROJECTS
    assert not Project.objects.filter(pk=team.pk).exists()
    assert not Task.objects.filter(pk=task.pk).exists()
    event = Event.objects.get(type="project.deleted", subject_id=team.pk)
    assert event.actor_id == operator.pk
    assert event.data["name"] == "Team"


def test_deleting_a_personal_project_is_refused_with_a_message(operator_client, member):
    personal = personal_project_create(user=member)
    task = TaskFactory(owner=member)

    response = operator_client.post(f"{PROJECTS}{personal.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == change_url(personal)
    assert notes(response) == [(messages.ERROR, PersonalProjectError.message)]
    assert Project.objects.filter(pk=personal.pk).exists()
    assert Task.objects.filter(pk=task.pk).exists()
    assert not Event.objects.filter(type="project.deleted").exists()


def test_a_project_deleted_meanwhile_is_reported(operator_client, member, team, monkeypatch):
    real_delete = projects_admin.services.project_delete

    def delete_twice(**kwargs):
        real_delete(**kwargs)
        real_delete(**kwargs)

    monkeypatch.setattr(projects_admin.services, "project_delete", delete_twice)

    response = operator_client.post(f"{PROJECTS}{team.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == PROJECTS
    assert [level for level, _ in notes(response)] == [messages.ERROR]
    assert Project.objects.filter(pk=team.pk).exists()  # rolled back with the error


# Labels


def test_adding_a_label_goes_through_the_service(operator_client, operator, team, committed):
    with committed():
        response = operator_client.post(
            f"{LABELS}add/", {"project": team.pk, "name": "Bug", "color": "#FF0000"}
        )

    assert response.status_code == 302, response.content
    label = Label.objects.get()
    assert (label.project_id, label.name, label.color) == (team.pk, "Bug", "#ff0000")
    (event,) = events_of(team, "label.")
    assert (event.type, event.actor_id, event.subject_id) == (
        "label.created",
        operator.pk,
        label.pk,
    )


def test_changing_and_deleting_a_label_go_through_the_services(
    operator_client, operator, member, team, committed
):
    label = label_create(actor=member, project_id=team.pk, name="Bug", color="#ff0000")

    with committed():
        response = operator_client.post(change_url(label), {"name": "Defect", "color": "#00ff00"})
    assert response.status_code == 302, response.content
    with committed():
        response = operator_client.post(f"{LABELS}{label.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content
    assert not Label.objects.exists()
    assert [(e.type, e.actor_id, e.changes) for e in events_of(team, "label.")][1:] == [
        (
            "label.updated",
            operator.pk,
            {"name": ["Bug", "Defect"], "color": ["#ff0000", "#00ff00"]},
        ),
        ("label.deleted", operator.pk, {"name": ["Defect", None], "color": ["#00ff00", None]}),
    ]


def test_bulk_deleting_labels_deletes_each_through_the_service(
    operator_client, operator, member, team
):
    labels = [
        label_create(actor=member, project_id=team.pk, name=name, color="#123456")
        for name in ("One", "Two")
    ]

    response = operator_client.post(
        LABELS,
        {
            "action": "delete_selected",
            "_selected_action": [label.pk for label in labels],
            "post": "yes",
        },
    )

    assert response.status_code == 302, response.content
    assert not Label.objects.exists()
    deleted = Event.objects.filter(type="label.deleted", actor=operator)
    assert set(deleted.values_list("subject_id", flat=True)) == {label.pk for label in labels}


def test_a_label_name_taken_in_any_case_is_refused(operator_client, member, team):
    label_create(actor=member, project_id=team.pk, name="Bug", color="#ff0000")
    other = label_create(actor=member, project_id=team.pk, name="Idea", color="#ff0000")

    added = operator_client.post(
        f"{LABELS}add/", {"project": team.pk, "name": "BUG", "color": "#000000"}
    )
    renamed = operator_client.post(change_url(other), {"name": "bug", "color": "#ff0000"})

    for response in (added, renamed):
        assert response.status_code == 200  # the form again, with the error
        errors = response.context["adminform"].form.errors
        assert errors == {"name": [LabelNameTakenError.message]}
    assert sorted(Label.objects.values_list("name", flat=True)) == ["Bug", "Idea"]


def test_a_label_colour_must_be_rrggbb(operator_client, team):
    response = operator_client.post(
        f"{LABELS}add/", {"project": team.pk, "name": "Bug", "color": "red"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["color"]
    assert not Label.objects.exists()


def test_labels_of_an_archived_project_stay_as_they_are(operator_client, member, team):
    label = label_create(actor=member, project_id=team.pk, name="Bug", color="#ff0000")
    project_update(actor=member, project_id=team.pk, data={"is_archived": True})

    response = operator_client.post(change_url(label), {"name": "Defect", "color": "#ff0000"})

    assert response.status_code == 302
    assert notes(response) == [(messages.ERROR, ProjectArchivedError.message)]
    label.refresh_from_db()
    assert label.name == "Bug"


# The task form's project


def test_the_task_forms_project_autocomplete_finds_projects_by_name(operator_client, team):
    response = operator_client.get(
        "/admin/autocomplete/",
        {"app_label": "tasks", "model_name": "task", "field_name": "project", "term": "tea"},
    )

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(team.pk)]


def test_membership_changes_made_elsewhere_do_not_go_unseen(
    operator_client, member, other_member, team
):
    opened = project_form(team, roles={other_member: "viewer"})
    member_set_role(actor=member, project_id=team.pk, user_id=other_member.pk, role="admin")

    response = operator_client.post(change_url(team), opened)

    assert response.status_code == 302
    assert notes(response) == [(messages.ERROR, projects_admin.STALE_FORM.format(what="project"))]
    assert roles_of(team)["otto"] == "admin"
