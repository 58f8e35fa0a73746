"""API1:2023 Broken Object Level Authorization.

Every object endpoint of the schema (a path with an `{id}`), called with another
user's id (his task, file, session, personal API token, his project, a membership
and a label in it, a comment, a notification, a relation between his tasks, the
webhook of his project and its delivery), answers exactly as for an id that does not
exist (404, or the 403 of an admin-only endpoint) and changes nothing; a project's
webhooks are its admins' alone (a member of the project gets the same 404); every
list leaves other users' objects out, whatever its query parameters; and nobody's
socket carries an event of a task they may not see.
tests/security/test_projects_authorization.py goes into projects further,
tests/security/test_collaboration_authorization.py into relations, comments,
notifications, moves and bulk changes, tests/webhooks/test_api.py into webhooks.
"""

import re
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from accounts.models import PersonalToken, User, UserSession
from accounts.services import personal_token_create
from activity.models import Event
from comments.models import Comment
from comments.services import comment_create
from files.models import File
from notifications.models import Notification
from projects.models import Label, Membership, Project
from projects.services import label_create
from tasks.models import Relation, Task
from tasks.services import relation_create, task_delete, task_update
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import assert_error, bearer_client, claims
from tests.realtime.sockets import (
    assert_all_silent,
    next_of_type,
    open_sockets,
    receive,
    send,
)
from tests.security.helpers import fill, openapi_schema, operations
from webhooks.models import Delivery, Webhook
from webhooks.services import webhook_create, webhook_test

MISSING_ID = 987654321
WEBHOOK_KINDS = {"webhook", "delivery"}
MISSING_SESSION = "00000000-0000-4000-8000-000000000000"

# Every path of the schema with an id, and how to find Otto's object for it.
# `test_every_object_endpoint_of_the_schema_is_covered` fails when a new one appears.
OBJECT_PATHS: dict[str, str] = {
    "/api/v1/auth/sessions/{id}/": "session",
    "/api/v1/auth/tokens/{id}/": "personal_token",
    "/api/v1/comments/{id}/": "comment",
    "/api/v1/files/{id}/": "file",
    "/api/v1/files/{id}/download/": "file",
    "/api/v1/labels/{id}/": "label",
    "/api/v1/notifications/{id}/read/": "notification",
    "/api/v1/projects/{id}/": "project",
    "/api/v1/projects/{id}/labels/": "project",
    "/api/v1/projects/{id}/members/": "project",
    "/api/v1/projects/{id}/members/{user_id}/": "membership",
    "/api/v1/tasks/{id}/": "task",
    "/api/v1/tasks/{id}/events/": "task",
    "/api/v1/tasks/{id}/move/": "task",
    "/api/v1/tasks/{id}/relations/": "task",
    "/api/v1/tasks/{id}/relations/{relation_id}/": "relation",
    "/api/v1/tasks/{task_id}/comments/": "task",
    "/api/v1/users/{id}/": "user",
    "/api/v1/webhooks/{id}/": "webhook",
    "/api/v1/webhooks/{id}/rotate-secret/": "webhook",
    "/api/v1/webhooks/{id}/test/": "webhook",
    "/api/v1/webhooks/{webhook_id}/deliveries/": "webhook",
    "/api/v1/webhooks/{webhook_id}/deliveries/{id}/retry/": "delivery",
}
# The webhook paths: a project's admins (and site admins) manage its webhooks, nobody
# else, not even its members.
WEBHOOK_PATHS = sorted(path for path, kind in OBJECT_PATHS.items() if kind in WEBHOOK_KINDS)
# Object endpoints a member and a manager may not use at all (function level, API5):
# the answer must then not depend on whether the id exists.
ADMIN_ONLY_PATHS = {"/api/v1/users/{id}/"}
# What managers see of everyone by design (`tasks.view_any_task`,
# `projects.view_any_project`; API5 checks what they may change): they are tried on
# the other kinds only.
SEEN_BY_MANAGERS = {"task", "project", "label", "membership", "comment", "relation"}

# A valid body for each write, so a refusal cannot be a validation error; a callable
# builds it from `others_objects` (another of Otto's tasks to move next to or relate to).
BODIES: dict[tuple[str, str], dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("/api/v1/tasks/{id}/", "put"): {"title": "Taken over", "description": "", "priority": "high"},
    ("/api/v1/tasks/{id}/", "patch"): {"title": "Taken over"},
    ("/api/v1/users/{id}/", "patch"): {"is_active": False},
    ("/api/v1/projects/{id}/", "patch"): {"name": "Taken over", "is_archived": True},
    ("/api/v1/projects/{id}/members/", "post"): {"username": "mia", "role": "admin"},
    ("/api/v1/projects/{id}/members/{user_id}/", "patch"): {"role": "admin"},
    ("/api/v1/projects/{id}/labels/", "post"): {"name": "Taken over", "color": "#ff0000"},
    ("/api/v1/labels/{id}/", "patch"): {"name": "Taken over", "color": "#ff0000"},
    ("/api/v1/tasks/{task_id}/comments/", "post"): {"body": "Taken over"},
    ("/api/v1/comments/{id}/", "patch"): {"body": "Taken over"},
    ("/api/v1/tasks/{id}/move/", "post"): lambda o: {"after": o["second_task"]},
    ("/api/v1/tasks/{id}/relations/", "post"): lambda o: {
        "kind": "duplicates",
        "task": o["second_task"],
    },
    ("/api/v1/webhooks/{id}/", "patch"): {
        "url": "https://attacker.example/collect",
        "description": "Taken over",
        "event_types": ["task.created"],
        "is_active": False,
    },
}


@pytest.fixture
def others_objects(other_member: User, others_task: Any, others_file: dict, login: Any) -> dict:
    """Otto's id of each kind (his task, his file, a live session of his, a personal API
    token of his, himself, his project with Pia as a member, her membership (project
    id, user id), a label, his comment on his task, his notification of Pia's comment
    on a task of the project, his relation (task id, relation id) from his task to a
    second one of his, the webhook of his project and (webhook id, delivery id) of its
    test message); and Pia."""
    tokens = login(other_member)
    pia = UserFactory(username="pia", email="pia@example.com")
    project = shared_project(other_member, pia)
    label = label_create(actor=other_member, project_id=project.pk, name="Otto's", color="#336699")
    comment = comment_create(actor=other_member, task=others_task, body="Otto's note")
    second = TaskFactory(owner=other_member, title="Otto's second task")
    relation = relation_create(
        actor=other_member, task=others_task, kind="blocks", other_id=second.pk
    )
    comment_create(actor=pia, task=TaskFactory(owner=other_member, project=project), body="Hi")
    token = personal_token_create(
        user=other_member, name="Otto's script", scopes=["tasks:read"], expires_at=None
    )
    webhook = webhook_create(
        actor=other_member,
        project_id=project.pk,
        url="https://hooks.example.com/otto",
        event_types=[],
        description="Otto's",
    )
    delivery = webhook_test(webhook=webhook, actor=other_member)
    return {
        "task": others_task.pk,
        "task_project": others_task.project_id,
        "second_task": second.pk,
        "relation": (others_task.pk, relation.pk),
        "file": others_file["id"],
        "session": claims(tokens["access"])["sid"],
        "user": other_member.pk,
        "project": project.pk,
        "membership": (project.pk, pia.pk),
        "label": label.pk,
        "comment": comment.pk,
        "notification": Notification.objects.get(user=other_member).pk,
        "personal_token": token.token.pk,
        "personal_token_raw": token.raw,
        "webhook": webhook.pk,
        "delivery": (webhook.pk, delivery.pk),
        "tokens": tokens,
        "pia": pia,
    }


def state_of(objects: dict[str, Any]) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    task = Task.objects.get(pk=objects["task"])
    session = UserSession.objects.get(pk=objects["session"])
    user = User.objects.get(pk=objects["user"])
    project_id = objects["project"]
    return (
        task.title,
        task.version,
        task.position,
        task.owner_id,
        task.project_id,
        File.objects.filter(pk=objects["file"]).exists(),
        session.ended_at,
        user.is_active,
        user.role,
        Event.objects.filter(subject_id=objects["task"], type__startswith="task.").count(),
        Project.objects.filter(pk=project_id).values("name", "is_archived", "version").first(),
        sorted(Membership.objects.filter(project_id=project_id).values_list("user_id", "role")),
        sorted(Label.objects.filter(project_id=project_id).values_list("id", "name", "color")),
        Event.objects.filter(project_id=project_id).count(),
        sorted(Comment.objects.values_list("id", "body")),
        sorted(Notification.objects.values_list("id", "read_at")),
        sorted(Relation.objects.values_list("id", "task_id", "other_id", "kind")),
        PersonalToken.objects.filter(pk=objects["personal_token"]).exists(),
        sorted(
            Webhook.objects.values_list(
                "id", "url", "description", "event_types", "is_active", "secret"
            )
        ),
        sorted(Delivery.objects.values_list("id", "status", "attempts", "next_attempt_at")),
    )


def object_operations() -> list[tuple[str, str, str]]:
    """(role, path, method); managers see every task and project by design, so they
    are tried on the other kinds only."""
    return [
        (role, path, method)
        for path, method, _ in operations()
        if "{" in path
        for role in ("member", "manager")
        if not (role == "manager" and OBJECT_PATHS.get(path) in SEEN_BY_MANAGERS)
    ]


def url_of(path: str, key: Any) -> str:
    """The path with the object's id; a membership's is (project id, user id), a
    relation's (task id, relation id), a delivery's (webhook id, delivery id): one
    for each parameter of the path, in order."""
    if not isinstance(key, tuple):
        return fill(path, key)
    ids = iter(key)
    return re.sub(r"\{[^}]+\}", lambda _: str(next(ids)), path)


def call(client: Any, method: str, path: str, key: Any, objects: dict[str, Any]) -> Any:
    url = url_of(path, key)
    body = BODIES.get((path, method))
    if body is None:
        return getattr(client, method)(url)
    if callable(body):
        body = body(objects)
    return getattr(client, method)(url, body, format="json")


def test_every_object_endpoint_of_the_schema_is_covered():
    paths = {path for path in openapi_schema()["paths"] if "{" in path}

    assert paths == set(OBJECT_PATHS)


@pytest.mark.parametrize(("role", "path", "method"), object_operations())
def test_another_users_object_answers_as_a_missing_one_and_stays_unchanged(
    role, path, method, request, others_objects, committed
):
    client = request.getfixturevalue(f"{role}_client")
    kind = OBJECT_PATHS[path]
    missing = MISSING_SESSION if kind == "session" else MISSING_ID
    before = state_of(others_objects)

    with committed():
        response = call(client, method, path, others_objects[kind], others_objects)
    answer_for_missing = call(client, method, path, missing, others_objects)

    expected = 403 if path in ADMIN_ONLY_PATHS else 404
    assert response.status_code == expected, response.content
    assert response.json()["error"]["code"] == (
        "permission_denied" if expected == 403 else "not_found"
    )
    # Same status and body as for an id nobody has: the id's existence does not leak.
    assert answer_for_missing.status_code == expected
    assert answer_for_missing.json() == response.json()
    assert state_of(others_objects) == before


OWNER_CALLS: dict[str, tuple[str, int]] = {
    "/api/v1/auth/sessions/{id}/": ("delete", 204),
    "/api/v1/projects/{id}/members/{user_id}/": ("patch", 200),
    "/api/v1/notifications/{id}/read/": ("post", 200),
    "/api/v1/tasks/{id}/move/": ("post", 200),
    "/api/v1/tasks/{id}/relations/{relation_id}/": ("delete", 204),
    "/api/v1/auth/tokens/{id}/": ("delete", 204),
    "/api/v1/webhooks/{id}/rotate-secret/": ("post", 200),
    "/api/v1/webhooks/{id}/test/": ("post", 202),
    "/api/v1/webhooks/{webhook_id}/deliveries/{id}/retry/": ("post", 202),
}


@pytest.mark.parametrize("path", sorted(set(OBJECT_PATHS) - ADMIN_ONLY_PATHS))
def test_the_owner_reaches_each_object_endpoint(path, other_member_client, others_objects):
    # The positive control: the same ids work for their owner.
    client = other_member_client
    key = others_objects[OBJECT_PATHS[path]]
    # Paths without a GET: a session, a personal token and a relation are deleted, a
    # membership is changed by its admin, a notification read, a task moved, a
    # webhook's secret rotated or its test sent, a delivery retried by a POST.
    method, expected = OWNER_CALLS.get(path, ("get", 200))
    response = call(client, method, path, key, others_objects)
    assert response.status_code == expected, response.content


def test_a_session_of_another_user_survives_a_delete_attempt(member_client, others_objects):
    response = member_client.delete(f"/api/v1/auth/sessions/{others_objects['session']}/")

    assert response.status_code == 404
    otto = member_client.__class__(others_objects["tokens"])
    assert otto.get("/api/v1/users/me/").status_code == 200


def test_a_personal_token_of_another_user_survives_a_delete_attempt(member_client, others_objects):
    response = member_client.delete(f"/api/v1/auth/tokens/{others_objects['personal_token']}/")

    assert response.status_code == 404
    otto = bearer_client(others_objects["personal_token_raw"])
    assert otto.get("/api/v1/users/me/").json()["username"] == "otto"


def test_the_owner_deletes_their_personal_token_and_it_stops_working(
    other_member_client, others_objects
):
    url = f"/api/v1/auth/tokens/{others_objects['personal_token']}/"

    assert other_member_client.delete(url).status_code == 204

    assert not PersonalToken.objects.filter(pk=others_objects["personal_token"]).exists()
    otto = bearer_client(others_objects["personal_token_raw"])
    assert otto.get("/api/v1/users/me/").status_code == 401
    # Once gone, it is a missing one to its owner too.
    assert other_member_client.delete(url).status_code == 404


@pytest.mark.parametrize(
    ("path", "method"),
    [(path, method) for path, method, _ in operations() if path in WEBHOOK_PATHS],
)
def test_a_member_of_the_project_who_is_not_its_admin_cannot_reach_its_webhooks(
    path, method, client_for, others_objects, committed
):
    # Pia is a member of Otto's project, and sees its tasks: its webhooks (their URL,
    # their secret, what they were sent) are its admins' only.
    pia = client_for(others_objects["pia"])
    kind = OBJECT_PATHS[path]
    before = state_of(others_objects)

    with committed():
        response = call(pia, method, path, others_objects[kind], others_objects)
    answer_for_missing = call(pia, method, path, MISSING_ID, others_objects)

    assert_error(response, 404, "not_found")
    assert answer_for_missing.json() == response.json()
    assert state_of(others_objects) == before


def test_a_member_of_the_project_does_not_list_its_webhooks(client_for, others_objects):
    pia = client_for(others_objects["pia"])

    response = pia.get("/api/v1/webhooks/", {"limit": 100})

    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


# --- lists ---------------------------------------------------------------------------

# Every paginated list of the schema and how Otto's object would show in it.
LIST_PATHS: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    "/api/v1/projects/": lambda item, o: item["id"] == o["project"],
    "/api/v1/tasks/": lambda item, o: item["id"] == o["task"],
    "/api/v1/tasks/events/": lambda item, o: item["task"] == o["task"],
    "/api/v1/files/": lambda item, o: item["id"] == o["file"],
    "/api/v1/auth/sessions/": lambda item, o: item["id"] == o["session"],
    "/api/v1/notifications/": lambda item, o: item["id"] == o["notification"],
    "/api/v1/auth/tokens/": lambda item, o: item["id"] == o["personal_token"],
    "/api/v1/webhooks/": lambda item, o: item["id"] == o["webhook"],
}
# Lists that are not a member's at all (API5 checks the 403).
ADMIN_ONLY_LISTS = {"/api/v1/users/"}


def test_every_list_of_the_schema_is_covered():
    schema = openapi_schema()
    lists = {
        path
        for path, item in schema["paths"].items()
        if "get" in item
        and "{" not in path
        and any(p["name"] == "limit" for p in item["get"].get("parameters", []))
    }

    assert lists == set(LIST_PATHS) | ADMIN_ONLY_LISTS


# Query parameters a caller might use to reach further than their own objects.
WIDENING_QUERIES: list[dict[str, Any]] = [
    {},
    {"limit": 100},
    {"owner": "{user}"},
    {"assignee": "{user}"},
    {"search": "Private"},
    {"task": "{task}"},
    {"after": 0},
    {"user": "{user}"},
    {"all": "true"},
    {"project": "{task_project},{project}"},
    {"include_archived": "true"},
    {"archived": "all"},
]


@pytest.mark.parametrize("path", sorted(LIST_PATHS))
@pytest.mark.parametrize("query", WIDENING_QUERIES, ids=lambda q: ",".join(q) or "plain")
def test_lists_leave_out_other_users_objects_whatever_the_query(
    path, query, member_client, other_member_client, others_objects, task
):
    params = {
        key: value.format(**others_objects) if isinstance(value, str) else value
        for key, value in query.items()
    }
    shows_others = LIST_PATHS[path]

    response = member_client.get(path, params)

    # An unknown or invalid parameter may be refused; it must never widen the list.
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        body = response.json()
        assert not [item for item in body["results"] if shows_others(item, others_objects)]
    # Positive control: the object is in its owner's list.
    listed = other_member_client.get(path, {"limit": 100}).json()["results"]
    assert [item for item in listed if shows_others(item, others_objects)]


def test_statistics_count_only_what_the_member_sees(member_client, others_task, task):
    TaskFactory(owner=others_task.owner, title="Another of Otto's", status="completed")

    figures = member_client.get("/api/v1/tasks/statistics/").json()

    assert figures["total"] == 1
    assert figures["by_status"] == {"pending": 1, "in_progress": 0, "completed": 0}


def test_a_file_cannot_be_attached_to_another_users_task(member_client, others_task):
    from tests.files.samples import sample
    from tests.helpers import post_file

    response = post_file(member_client, "notes.png", sample("png"), task=others_task)

    assert response.status_code == 404
    assert not File.objects.filter(task=others_task).exists()


# --- sockets -------------------------------------------------------------------------

sockets_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@sockets_db
async def test_no_event_of_another_users_task_reaches_a_members_socket(
    member_client, other_member, manager_client, others_task
):
    async with open_sockets(member_client.tokens, manager_client.tokens) as (mia, manon):
        await database_sync_to_async(task_update)(
            actor=other_member, task_id=others_task.pk, data={"title": "Renamed"}
        )
        # Positive control: a manager, who may see it, is told.
        assert (await next_of_type(manon, "task.updated"))["task"]["id"] == others_task.pk
        await database_sync_to_async(task_delete)(actor=other_member, task_id=others_task.pk)
        assert (await next_of_type(manon, "task.deleted"))["task"]["id"] == others_task.pk

        await assert_all_silent(mia)


@pytest.fixture
def others_project(other_member: User) -> Project:
    """Otto's shared project (without Mia) with a label: events of other kinds."""
    project = shared_project(other_member)
    label_create(actor=other_member, project_id=project.pk, name="Otto's", color="#336699")
    return project


@sockets_db
async def test_a_resume_replays_only_events_the_member_may_see(
    member_client, other_member, others_task, others_project, task
):
    async with open_sockets(member_client.tokens) as (mia,):
        await send(mia, {"type": "resume", "after": 0})
        replayed = []
        while (message := await receive(mia))["type"] != "resumed":
            kind = message["type"].partition(".")[0]
            replayed.append((message["type"], message[kind]["id"]))

    # Her personal project's creation (at registration) and her task: nothing of
    # Otto's projects, their labels or their tasks.
    assert replayed == [("project.created", task.project_id), ("task.created", task.pk)]
    assert message["count"] == 2
