"""The OWASP API risks for collaboration on tasks (issue 24): relations, comments,
notifications, manual order and bulk changes.

API1: a relation, comment or notification of a task one cannot see answers as a
missing id (404, or the 400 naming the field of a body that names it) with the same
message, and nothing changes; a relation reached through the URL of a task it is not
of is a 404, even for tasks one sees; a move names another project's task as it
names a missing one; read-all marks only the caller's notifications; a bulk change
naming a task one cannot see changes nothing and names the id as it would a missing
one. API3: a bulk change's `set` refuses the properties the server owns by name.
API5: viewers of a project read its relations and comments but write none, move
no task and change none in bulk; a member edits and deletes only their own
comments and deletes in bulk only the tasks they created; a project admin deletes
any comment of the project. Sockets: no message names a task the user cannot see.

Who is who: Otto is the admin of `team` (Mia a member, Vera a viewer) and of
`theirs`, which Mia and Vera are not in (Pia a member).
"""

import json
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async

from accounts.models import User
from comments.models import Comment
from comments.services import comment_create
from notifications.models import Notification
from projects.models import Label, Project
from projects.services import label_create, member_remove
from tasks.models import Relation, Task
from tasks.services import relation_create, relation_delete
from tests.factories import TaskFactory, UserFactory
from tests.helpers import assert_error
from tests.projects.helpers import new_project
from tests.realtime.sockets import QUIET, open_sockets, receive

MISSING_ID = 987654321
TASKS_URL = "/api/v1/tasks/"
BULK_URL = "/api/v1/tasks/bulk/"
BULK_DELETE_URL = "/api/v1/tasks/bulk-delete/"
NOTIFICATIONS_URL = "/api/v1/notifications/"


def task_url(task: Any, suffix: str = "") -> str:
    return f"{TASKS_URL}{getattr(task, 'pk', task)}/{suffix}"


def relations_url(task: Any) -> str:
    return task_url(task, "relations/")


def relation_url(task: Any, relation: Any) -> str:
    return f"{relations_url(task)}{getattr(relation, 'pk', relation)}/"


def comments_url(task: Any) -> str:
    return task_url(task, "comments/")


def comment_url(comment: Any) -> str:
    return f"/api/v1/comments/{getattr(comment, 'pk', comment)}/"


def read_url(notification: Any) -> str:
    return f"{NOTIFICATIONS_URL}{getattr(notification, 'pk', notification)}/read/"


def masked(body: Any, *ids: int) -> Any:
    """The JSON body with each of the ids in its messages replaced by a placeholder:
    two answers that differ only in the id their messages name are then equal."""
    if isinstance(body, dict):
        return {key: masked(value, *ids) for key, value in body.items()}
    if isinstance(body, list):
        return [masked(value, *ids) for value in body]
    if isinstance(body, str):
        for each in ids:
            body = re.sub(rf"\b{each}\b", "<id>", body)
    return body


# --- who is who ---------------------------------------------------------------------------


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
    return new_project(other_member, "Team", (member, "member"), (viewer, "viewer"))


@pytest.fixture
def theirs(other_member: User, pia: User) -> Project:
    """Otto's project Mia and Vera are not in: Pia a member."""
    return new_project(other_member, "Otto's secrets", (pia, "member"))


@pytest.fixture
def ottos(team: Project, other_member: User) -> Task:
    """Otto's task in `team`."""
    return TaskFactory(owner=other_member, project=team, title="Otto's team task")


@pytest.fixture
def ottos_second(team: Project, other_member: User) -> Task:
    return TaskFactory(owner=other_member, project=team, title="Otto's second team task")


@pytest.fixture
def mias(team: Project, member: User) -> Task:
    """Mia's task in `team`."""
    return TaskFactory(owner=member, project=team, title="Mia's team task")


@pytest.fixture
def secret(theirs: Project, other_member: User) -> Task:
    """A task of `theirs`: Mia cannot see it."""
    return TaskFactory(owner=other_member, project=theirs, title="Otto's secret plan")


@pytest.fixture
def secret_second(theirs: Project, other_member: User) -> Task:
    return TaskFactory(owner=other_member, project=theirs, title="Otto's second secret")


def task_rows() -> list[tuple[Any, ...]]:
    """What a refused request must leave as it was, of every task."""
    return sorted(
        Task.objects.values_list(
            "id", "title", "priority", "status", "version", "position", "project_id", "label_ids"
        )
    )


def relation_rows() -> list[tuple[Any, ...]]:
    return sorted(Relation.objects.values_list("id", "task_id", "other_id", "kind"))


def comment_rows() -> list[tuple[Any, ...]]:
    return sorted(Comment.objects.values_list("id", "task_id", "body", "edited"))


def notification_rows() -> list[tuple[Any, ...]]:
    return sorted(Notification.objects.values_list("id", "user_id", "read_at"))


def everything() -> tuple[Any, ...]:
    return task_rows(), relation_rows(), comment_rows(), notification_rows()


# --- relations ----------------------------------------------------------------------------


@pytest.fixture
def secret_relation(other_member: User, secret: Task, secret_second: Task) -> Relation:
    """A relation between two tasks of `theirs`."""
    return relation_create(
        actor=other_member, task=secret, kind="blocks", other_id=secret_second.pk
    )


@pytest.fixture
def team_relation(other_member: User, ottos: Task, ottos_second: Task) -> Relation:
    """A relation between two of Otto's tasks in `team`, which Mia sees."""
    return relation_create(actor=other_member, task=ottos, kind="blocks", other_id=ottos_second.pk)


def test_a_relation_of_an_invisible_task_answers_as_a_missing_one(
    member_client, mias, secret, secret_relation
):
    before = everything()

    through_its_task = member_client.delete(relation_url(secret, secret_relation))
    through_hers = member_client.delete(relation_url(mias, secret_relation))
    missing = member_client.delete(relation_url(mias, MISSING_ID))

    assert_error(through_its_task, 404, "not_found")
    assert_error(through_hers, 404, "not_found")
    assert through_hers.json() == missing.json() == through_its_task.json()
    assert everything() == before


@pytest.mark.parametrize("url_task", ["mias", "a_third_of_ottos"])
def test_a_relation_through_the_url_of_a_task_it_is_not_of_is_not_found(
    url_task, member_client, other_member_client, other_member, mias, team_relation, team
):
    # Both see and may write on both ends, yet the relation is not of Mia's task, nor
    # of a third task of Otto's in the project.
    task = mias if url_task == "mias" else TaskFactory(owner=other_member, project=team)
    before = everything()

    for client in (member_client, other_member_client):
        response = client.delete(relation_url(task, team_relation))
        assert_error(response, 404, "not_found")
    assert everything() == before
    # The control: through either of its tasks it goes.
    response = member_client.delete(relation_url(team_relation.other_id, team_relation))
    assert response.status_code == 204, response.content
    assert not Relation.objects.exists()


def test_a_relation_to_an_invisible_task_is_not_deleted_through_the_visible_end(
    member_client, other_member_client, other_member, ottos, secret
):
    # The list leaves it out (below); deleting it by its id answers as for a missing
    # relation, so its existence does not leak and it stays.
    hidden = relation_create(actor=other_member, task=secret, kind="blocks", other_id=ottos.pk)
    before = everything()

    response = member_client.delete(relation_url(ottos, hidden))
    missing = member_client.delete(relation_url(ottos, MISSING_ID))

    assert_error(response, 404, "not_found")
    assert response.json() == missing.json()
    assert everything() == before
    # The control: Otto, who sees both ends, deletes it through the same URL.
    assert other_member_client.delete(relation_url(ottos, hidden)).status_code == 204


def test_relating_to_an_invisible_task_names_it_as_a_missing_one(member_client, mias, secret):
    before = everything()

    hidden = member_client.post(
        relations_url(mias), {"kind": "blocks", "task": secret.pk}, format="json"
    )
    missing = member_client.post(
        relations_url(mias), {"kind": "blocks", "task": MISSING_ID}, format="json"
    )

    error = assert_error(hidden, 400, "validation_error")
    assert list(error["fields"]) == ["task"]
    assert masked(hidden.json(), secret.pk) == masked(missing.json(), MISSING_ID)
    assert everything() == before


def test_relations_to_invisible_tasks_are_left_out_of_the_list(
    member_client, other_member_client, other_member, ottos, ottos_second, secret
):
    seen = relation_create(
        actor=other_member, task=ottos, kind="relates_to", other_id=ottos_second.pk
    )
    relation_create(actor=other_member, task=ottos, kind="relates_to", other_id=secret.pk)
    relation_create(actor=other_member, task=secret, kind="duplicates", other_id=ottos.pk)

    listed = member_client.get(relations_url(ottos)).json()

    assert [relation["id"] for relation in listed["results"]] == [seen.pk]
    assert listed["count"] == 1
    assert secret.pk not in [relation["other_task"] for relation in listed["results"]]
    # The control: Otto sees all three.
    assert other_member_client.get(relations_url(ottos)).json()["count"] == 3


# --- comments -----------------------------------------------------------------------------


@pytest.fixture
def secret_comment(other_member: User, secret: Task) -> Comment:
    return comment_create(actor=other_member, task=secret, body="Between us")


@pytest.fixture
def ottos_comment(other_member: User, mias: Task) -> Comment:
    """Otto's comment on Mia's task of `team`."""
    return comment_create(actor=other_member, task=mias, body="Otto's thoughts")


@pytest.fixture
def mias_comment(member: User, ottos: Task) -> Comment:
    """Mia's comment on Otto's task of `team`."""
    return comment_create(actor=member, task=ottos, body="Mia's thoughts")


@pytest.mark.parametrize(
    ("method", "body"),
    [("get", None), ("patch", {"body": "Taken over"}), ("delete", None)],
)
def test_another_projects_comment_answers_as_a_missing_one(
    method, body, member_client, secret_comment
):
    before = everything()

    hidden = getattr(member_client, method)(comment_url(secret_comment), body, format="json")
    missing = getattr(member_client, method)(comment_url(MISSING_ID), body, format="json")

    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json()
    assert everything() == before


@pytest.mark.parametrize(("method", "body"), [("get", None), ("post", {"body": "Hello"})])
def test_the_comments_of_an_invisible_task_answer_as_a_missing_task(
    method, body, member_client, secret, secret_comment
):
    before = everything()

    hidden = getattr(member_client, method)(comments_url(secret), body, format="json")
    missing = getattr(member_client, method)(comments_url(MISSING_ID), body, format="json")

    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json()
    assert everything() == before


@pytest.mark.parametrize("role", ["member", "viewer", "manager"])
def test_only_the_author_edits_a_comment(role, request, ottos_comment):
    client = request.getfixturevalue(f"{role}_client")
    before = everything()

    response = client.patch(comment_url(ottos_comment), {"body": "Rewritten"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert everything() == before


@pytest.mark.parametrize("role", ["member", "viewer", "manager"])
def test_a_member_viewer_or_manager_cannot_delete_anothers_comment(role, request, ottos_comment):
    client = request.getfixturevalue(f"{role}_client")
    before = everything()

    response = client.delete(comment_url(ottos_comment))

    assert_error(response, 403, "permission_denied")
    assert everything() == before


def test_the_author_edits_and_deletes_their_comment(member_client, mias_comment):
    # The control for the two above.
    edited = member_client.patch(comment_url(mias_comment), {"body": "Better"}, format="json")

    assert edited.status_code == 200, edited.content
    assert edited.json()["edited"] is True
    assert member_client.delete(comment_url(mias_comment)).status_code == 204
    assert not Comment.objects.exists()


def test_a_project_admin_deletes_a_members_comment_but_does_not_edit_it(
    other_member_client, mias_comment
):
    edited = other_member_client.patch(comment_url(mias_comment), {"body": "Mine"}, format="json")
    assert_error(edited, 403, "permission_denied")
    assert Comment.objects.get(pk=mias_comment.pk).body == "Mia's thoughts"

    response = other_member_client.delete(comment_url(mias_comment))

    assert response.status_code == 204, response.content
    assert not Comment.objects.filter(pk=mias_comment.pk).exists()


# --- notifications ------------------------------------------------------------------------


@pytest.fixture
def notified(member: User, other_member: User, mias: Task, ottos: Task) -> dict[str, Any]:
    """An unread notification each: Otto comments on Mia's task, Mia on Otto's."""
    comment_create(actor=other_member, task=mias, body="Looks good")
    comment_create(actor=member, task=ottos, body="Thanks")
    return {
        "mia": Notification.objects.get(user=member),
        "otto": Notification.objects.get(user=other_member),
    }


def test_another_users_notification_answers_as_a_missing_one(member_client, notified):
    before = everything()

    hidden = member_client.post(read_url(notified["otto"]))
    missing = member_client.post(read_url(MISSING_ID))

    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json()
    assert everything() == before
    # Nor is it listed to her, whatever the filter.
    for query in ({}, {"unread": "true"}, {"unread": "false"}):
        listed = member_client.get(NOTIFICATIONS_URL, query).json()["results"]
        assert notified["otto"].pk not in [n["id"] for n in listed]


def test_read_all_marks_only_the_callers_notifications(member_client, notified):
    response = member_client.post(f"{NOTIFICATIONS_URL}read-all/")

    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 1}
    assert Notification.objects.get(pk=notified["mia"].pk).read_at is not None
    assert Notification.objects.get(pk=notified["otto"].pk).read_at is None


def test_a_notification_of_a_project_one_left_is_not_shown_nor_read(
    member, member_client, other_member, team, notified, committed
):
    with committed():
        member_remove(actor=other_member, project_id=team.pk, user_id=member.pk)
    before = everything()

    listed = member_client.get(NOTIFICATIONS_URL).json()
    read = member_client.post(read_url(notified["mia"]))
    read_all = member_client.post(f"{NOTIFICATIONS_URL}read-all/")

    assert listed["count"] == 0
    assert_error(read, 404, "not_found")
    assert read_all.json() == {"updated": 0}
    assert everything() == before


# --- manual order -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["before", "after"])
def test_a_move_names_another_projects_task_as_a_missing_one(
    field, member_client, member, mias, ottos, secret
):
    own_elsewhere = TaskFactory(owner=member, title="In her personal project")
    before = everything()

    answers = {
        reference: member_client.post(task_url(mias, "move/"), {field: reference}, format="json")
        for reference in (secret.pk, own_elsewhere.pk, MISSING_ID)
    }

    for reference, response in answers.items():
        error = assert_error(response, 400, "validation_error")
        assert list(error["fields"]) == [field]
        # The message does not tell a task that exists elsewhere from none at all.
        assert masked(response.json(), reference) == masked(answers[MISSING_ID].json(), MISSING_ID)
    assert everything() == before
    # The control: a task of the same project is a place to move to.
    moved = member_client.post(task_url(mias, "move/"), {field: ottos.pk}, format="json")
    assert moved.status_code == 200, moved.content


def test_a_task_one_cannot_see_is_not_moved_nor_named(member_client, secret, secret_second):
    before = everything()

    hidden = member_client.post(
        task_url(secret, "move/"), {"before": secret_second.pk}, format="json"
    )
    missing = member_client.post(
        task_url(MISSING_ID, "move/"), {"before": secret_second.pk}, format="json"
    )

    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json()
    assert everything() == before


# --- bulk changes -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [BULK_URL, BULK_DELETE_URL])
def test_a_bulk_change_naming_an_invisible_task_changes_nothing(
    url, member_client, member, mias, secret
):
    own = TaskFactory(owner=member, title="Her own")
    body: dict[str, Any] = {"ids": [own.pk, mias.pk, secret.pk, MISSING_ID]}
    if url == BULK_URL:
        body["set"] = {"priority": "high", "status": "completed"}
    before = everything()

    response = member_client.post(url, body, format="json")

    error = assert_error(response, 400, "validation_error")
    # Only the two she cannot act on are named, each with the same message.
    assert set(error["fields"]) == {str(secret.pk), str(MISSING_ID)}
    assert error["fields"][str(secret.pk)] == error["fields"][str(MISSING_ID)]
    assert everything() == before


def test_a_bulk_move_into_an_invisible_project_names_it_as_a_missing_one(
    member_client, mias, theirs
):
    before = everything()

    answers = {
        project: member_client.post(
            BULK_URL, {"ids": [mias.pk], "set": {"project": project}}, format="json"
        )
        for project in (theirs.pk, MISSING_ID)
    }

    for project, response in answers.items():
        error = assert_error(response, 400, "validation_error")
        assert "project" in json.dumps(error["fields"])
        assert masked(response.json(), project) == masked(answers[MISSING_ID].json(), MISSING_ID)
    assert everything() == before


def test_a_bulk_label_of_another_project_is_named_as_a_missing_one(
    member_client, other_member, mias, theirs
):
    hidden = label_create(actor=other_member, project_id=theirs.pk, name="Secret", color="#000000")
    before = everything()

    answers = {
        label: member_client.post(
            BULK_URL, {"ids": [mias.pk], "add_labels": [label]}, format="json"
        )
        for label in (hidden.pk, MISSING_ID)
    }

    for label, response in answers.items():
        assert_error(response, 400, "validation_error")
        assert masked(response.json(), label) == masked(answers[MISSING_ID].json(), MISSING_ID)
    assert everything() == before
    assert Label.objects.filter(pk=hidden.pk).exists()


@pytest.mark.parametrize(
    "field",
    [
        {"owner": 1},
        {"version": 99},
        {"id": 424242},
        {"position": "0"},
        {"created_at": "2000-01-01T00:00:00Z"},
        {"labels": []},
        {"parent": None},
        {"blocked": True},
        {"subtasks": {"total": 0, "completed": 0}},
    ],
    ids=lambda field: next(iter(field)),
)
def test_a_bulk_set_refuses_the_properties_the_server_owns_by_name(field, member_client, mias):
    before = everything()

    response = member_client.post(
        BULK_URL, {"ids": [mias.pk], "set": {"priority": "high", **field}}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert json.dumps(error["fields"]).count(next(iter(field))) >= 1
    assert "ids" not in error["fields"]
    assert everything() == before


@pytest.mark.parametrize("url", [BULK_URL, BULK_DELETE_URL])
def test_a_viewer_changes_no_task_in_bulk(url, viewer_client, ottos, mias):
    body: dict[str, Any] = {"ids": [ottos.pk, mias.pk]}
    if url == BULK_URL:
        body["set"] = {"status": "completed"}
    before = everything()

    response = viewer_client.post(url, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {str(ottos.pk), str(mias.pk)}
    assert everything() == before


def test_a_member_deletes_in_bulk_only_the_tasks_they_created(
    member_client, other_member_client, mias, ottos
):
    before = everything()

    response = member_client.post(BULK_DELETE_URL, {"ids": [mias.pk, ottos.pk]}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == [str(ottos.pk)]
    assert everything() == before
    # The controls: her own alone goes; the project's admin deletes Otto's and hers.
    assert member_client.post(BULK_DELETE_URL, {"ids": [mias.pk]}, format="json").status_code == 204
    assert (
        other_member_client.post(BULK_DELETE_URL, {"ids": [ottos.pk]}, format="json").status_code
        == 204
    )


# --- function level: viewers read, and write nothing ---------------------------------------


def viewer_writes(
    ottos: Task, ottos_second: Task, relation: Relation
) -> list[tuple[str, str, Any]]:
    return [
        ("post", relations_url(ottos), {"kind": "relates_to", "task": ottos_second.pk}),
        ("delete", relation_url(ottos, relation), None),
        ("post", comments_url(ottos), {"body": "A viewer's word"}),
        ("post", task_url(ottos, "move/"), {"after": ottos_second.pk}),
    ]


def test_a_viewer_relates_comments_and_moves_nothing(
    viewer_client, member_client, ottos, ottos_second, team_relation
):
    before = everything()

    for method, url, body in viewer_writes(ottos, ottos_second, team_relation):
        response = getattr(viewer_client, method)(url, body, format="json")
        assert_error(response, 403, "permission_denied")
    assert everything() == before
    # The controls: she reads what she may not write; a member writes it.
    assert viewer_client.get(relations_url(ottos)).json()["count"] == 1
    assert viewer_client.get(comments_url(ottos)).status_code == 200
    answers = [
        getattr(member_client, method)(url, body, format="json").status_code
        for method, url, body in viewer_writes(ottos, ottos_second, team_relation)
    ]
    assert answers == [201, 204, 201, 200]


# --- sockets ------------------------------------------------------------------------------


async def received(communicator: Any) -> list[dict[str, Any]]:
    """Every message that arrives until the socket has been quiet for a while."""
    messages = []
    while not await communicator.receive_nothing(timeout=QUIET):
        messages.append(await receive(communicator))
    return messages


def task_ids_named(message: dict[str, Any]) -> set[Any]:
    """The tasks a socket message names: its task, a relation's two ends, a comment's
    or a notification's task."""
    named = set()
    task = message.get("task")
    if isinstance(task, dict):
        named.add(task.get("id"))
    for key in ("relation", "comment", "notification"):
        payload = message.get(key)
        if isinstance(payload, dict):
            named |= {payload.get("task"), payload.get("other_task")}
    return named - {None}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_no_socket_message_names_a_task_the_user_cannot_see(
    member_client, other_member_client, other_member, pia, ottos, secret
):
    # Otto relates a task of `team` (Mia's project too) to one of `theirs` (not hers),
    # Pia comments on the latter mentioning him, and Otto removes the relation.
    async with open_sockets(member_client.tokens, other_member_client.tokens) as (mia, otto):
        relation = await database_sync_to_async(relation_create)(
            actor=other_member, task=ottos, kind="relates_to", other_id=secret.pk
        )
        await database_sync_to_async(comment_create)(actor=pia, task=secret, body="@otto see")
        await database_sync_to_async(relation_delete)(
            actor=other_member, task=ottos, relation_id=relation.pk
        )
        to_mia, to_otto = await received(mia), await received(otto)

    # The control: Otto, who sees both, is told of each.
    assert {m["type"] for m in to_otto} >= {
        "relation.created",
        "relation.deleted",
        "comment.created",
        "notification.created",
    }
    leaked = [m for m in to_mia if secret.pk in task_ids_named(m)]
    assert leaked == [], leaked
