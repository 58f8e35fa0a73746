"""API3:2023 Broken Object Property Level Authorization.

Writes cannot set the properties the server owns (owner, version, role, active
flag, staff and superuser flags, a file's hash, size, type or owner, a task's
position, subtask counts and blocked state, a relation's or a comment's author,
direction and times): they are refused by name (echoed unchanged, a task's
read-only fields are accepted), and never change anything. Reads expose exactly
the documented fields: no password hash anywhere, no other user's email to a
member, no storage names or refresh-token ids.
"""

import hashlib
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts import auth_cache
from accounts.models import User
from comments.models import Comment
from comments.services import comment_create
from files.models import File
from projects.services import label_create
from tasks.models import Relation, Task
from tasks.services import relation_create
from tests.factories import PASSWORD, TaskFactory
from tests.files.samples import sample
from tests.helpers import EVENT_SHAPE, FILE_SHAPE, ME_URL, TASK_SHAPE, assert_error, post_file
from tests.security.helpers import fill, openapi_schema, walk_strings
from webhooks.services import webhook_create, webhook_test

USER_SHAPE = {"id", "username", "email", "role", "is_active", "date_joined"}
# A task names its project, labels, parent, position, subtask counts and whether it
# is blocked now (tests/helpers.py may list them already).
TASK_FIELDS = TASK_SHAPE | {"project", "labels", "parent", "position", "subtasks", "blocked"}
PROJECT_SHAPE = {
    "id",
    "name",
    "description",
    "is_personal",
    "is_archived",
    "role",
    "members_count",
    "created_at",
    "updated_at",
    "version",
}
MEMBERSHIP_SHAPE = {"user", "role", "added_at"}
LABEL_SHAPE = {"id", "project", "name", "color"}
SESSION_SHAPE = {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}
RELATION_SHAPE = {"id", "kind", "task", "other_task", "direction", "created_by", "created_at"}
COMMENT_SHAPE = {"id", "task", "author", "body", "mentions", "created_at", "updated_at", "edited"}
NOTIFICATION_SHAPE = {"id", "kind", "task", "comment", "actor", "created_at", "read_at"}
PRIVILEGES = {"role": "admin", "is_staff": True, "is_superuser": True, "is_active": True}


# --- mass assignment ---------------------------------------------------------------


def test_a_created_task_refuses_owner_version_and_timestamps_sent_by_the_client(
    member_client, other_member
):
    response = member_client.post(
        "/api/v1/tasks/",
        {
            "title": "Mine",
            "owner": other_member.pk,
            "version": 99,
            "id": 424242,
            "created_at": "2000-01-01T00:00:00Z",
            "completed_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"owner", "version", "id", "created_at", "completed_at"}
    assert not Task.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_cannot_move_a_task_to_another_owner_or_version(
    method, member_client, member, other_member, task
):
    response = getattr(member_client, method)(
        f"/api/v1/tasks/{task.pk}/",
        {"title": "Mine still", "owner": other_member.pk, "version": 99, "id": task.pk + 1},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"owner", "version", "id"}
    task.refresh_from_db()
    assert (task.owner_id, task.version, task.title) == (member.pk, 1, "Mia's task")


@pytest.mark.parametrize("field", ["snapshot", "is_deleted", "owner_id", "assignee_id", "events"])
def test_unknown_task_properties_are_refused_by_name(field, member_client, task):
    response = member_client.patch(f"/api/v1/tasks/{task.pk}/", {field: 1}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert field in error["fields"]
    assert Task.objects.get(pk=task.pk).version == task.version


# What the server keeps of a task's order, subtasks and blockers: a client sending
# other values is refused by name (the same values, echoed from a GET, are accepted).
FORGED_TASK_STATE = {
    "position": "0",
    "subtasks": {"total": 9, "completed": 9},
    "blocked": True,
}


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_task_refuses_the_position_counts_and_blocked_state_the_server_keeps(
    method, member_client, task
):
    url = "/api/v1/tasks/" if method == "post" else f"/api/v1/tasks/{task.pk}/"
    before = Task.objects.filter(pk=task.pk).values().get()

    response = getattr(member_client, method)(
        url, {"title": "Forged", **FORGED_TASK_STATE}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == set(FORGED_TASK_STATE)
    assert list(Task.objects.values()) == [before]


@pytest.mark.parametrize(
    "extra",
    [
        {"id": 424242},
        {"created_by": 1},
        {"direction": "incoming"},
        {"other_task": 1},
        {"created_at": "2000-01-01T00:00:00Z"},
    ],
)
def test_a_relation_refuses_the_properties_the_server_sets(extra, member_client, member, task):
    other = TaskFactory(owner=member, title="Other")

    response = member_client.post(
        f"/api/v1/tasks/{task.pk}/relations/",
        {"kind": "blocks", "task": other.pk, **extra},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == set(extra)
    assert not Relation.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"author": 1},
        {"task": 1},
        {"mentions": [1]},
        {"edited": True},
        {"created_at": "2000-01-01T00:00:00Z"},
    ],
)
def test_a_comment_refuses_the_properties_the_server_sets(extra, member_client, member, task):
    mine = comment_create(actor=member, task=task, body="Mine")

    created = member_client.post(
        f"/api/v1/tasks/{task.pk}/comments/", {"body": "New", **extra}, format="json"
    )
    changed = member_client.patch(
        f"/api/v1/comments/{mine.pk}/", {"body": "Changed", **extra}, format="json"
    )

    for response in (created, changed):
        error = assert_error(response, 400, "validation_error")
        assert set(error["fields"]) == set(extra)
    assert list(Comment.objects.values_list("id", "body", "edited")) == [(mine.pk, "Mine", False)]


@pytest.mark.parametrize(
    "extra", [{k: v} for k, v in PRIVILEGES.items()] + [{"groups": [1]}, {"is_active": False}]
)
def test_registration_cannot_grant_privileges(extra, db):
    body = {"username": "eve", "email": "eve@example.com", "password": PASSWORD, **extra}

    response = APIClient().post("/api/v1/auth/register/", body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(extra) <= set(error["fields"])
    assert not User.objects.filter(username="eve").exists()


@pytest.mark.parametrize(
    "extra",
    [
        *({k: v} for k, v in PRIVILEGES.items()),
        {"username": "someone-else"},
        {"id": 1},
        {"date_joined": "2000-01-01T00:00:00Z"},
        {"password_hash": "md5$x$y"},
    ],
)
def test_a_member_cannot_change_their_own_privileged_properties(extra, member_client, member):
    response = member_client.patch(ME_URL, extra, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(extra) <= set(error["fields"])
    fresh = User.objects.get(pk=member.pk)
    assert (fresh.role, fresh.is_staff, fresh.is_superuser, fresh.username) == (
        "member",
        False,
        False,
        "mia",
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"is_superuser": True},
        {"is_staff": True},
        {"password": "Another-Copper-Lantern-43"},
        {"email": "taken-over@example.com"},
        {"username": "renamed"},
    ],
)
def test_even_an_admin_sets_only_role_and_status_of_another_user(extra, admin_client, other_member):
    response = admin_client.patch(f"/api/v1/users/{other_member.pk}/", extra, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(extra) <= set(error["fields"])
    fresh = User.objects.get(pk=other_member.pk)
    assert (fresh.is_superuser, fresh.is_staff, fresh.email, fresh.username) == (
        False,
        False,
        "otto@example.com",
        "otto",
    )
    assert fresh.check_password(PASSWORD)


@pytest.mark.parametrize(
    "field",
    ["sha256", "size", "content_type", "owner", "name", "storage_name", "created_at"],
)
def test_an_upload_cannot_set_the_properties_the_server_computes(field, member_client, media_root):
    response = post_file(member_client, "photo.png", sample("png"), fields={field: "forged"})

    error = assert_error(response, 400, "validation_error")
    assert field in error["fields"]
    assert not File.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_an_uploads_type_and_hash_come_from_its_bytes_not_from_the_client(member_client):
    content = sample("png")

    response = post_file(member_client, "photo.png", content, "text/html")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == "image/png"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)


# --- exposure ------------------------------------------------------------------------


@pytest.fixture
def shared_world(member, other_member, manager, admin, member_client, other_member_client):
    """Otto's task assigned to Mia in his project she is a member of, events on it, a
    label there, a file each: everything a member may legitimately see of another
    user."""
    shared = TaskFactory(owner=other_member, assignee=member, title="For Mia")
    other_member_client.patch(f"/api/v1/tasks/{shared.pk}/", {"status": "in_progress"})
    label = label_create(
        actor=other_member, project_id=shared.project_id, name="Review", color="#336699"
    )
    mine = TaskFactory(owner=member, assignee=other_member, title="For Otto")
    file = post_file(member_client, "photo.png", sample("png"), task=mine).json()
    # Mentions her: her notifications name Otto.
    comment = comment_create(actor=other_member, task=shared, body="@mia have a look")
    # Otto's relation from another task of his project to hers: an incoming one.
    blocker = TaskFactory(owner=other_member, project=shared.project, title="Blocker")
    relation_create(actor=other_member, task=blocker, kind="blocks", other_id=shared.pk)
    # Otto's webhook of that project, with a delivery: its secret is never shown again.
    webhook = webhook_create(
        actor=other_member,
        project_id=shared.project_id,
        url="https://hooks.example.com/otto",
        event_types=[],
        description="",
    )
    webhook_test(webhook=webhook, actor=other_member)
    return {
        "task": shared.pk,
        "webhook": webhook.pk,
        "comment": comment.pk,
        "file": file["id"],
        "project": shared.project_id,
        "label": label.pk,
        "users": [member, other_member, manager, admin],
    }


def readable_urls(world: dict[str, Any], session_id: str) -> list[str]:
    """Every GET of the schema, with ids the caller may see."""
    urls = []
    for path, item in openapi_schema()["paths"].items():
        if "get" not in item:
            continue
        if "{" not in path:
            urls.append(path)
        elif path.startswith("/api/v1/tasks/"):
            urls.append(fill(path, world["task"]))
        elif path.startswith("/api/v1/files/"):
            urls.append(fill(path, world["file"]))
        elif path.startswith("/api/v1/users/"):
            urls.append(fill(path, world["users"][1].pk))
        elif path.startswith("/api/v1/projects/"):
            urls.append(fill(path, world["project"]))
        elif path.startswith("/api/v1/labels/"):
            urls.append(fill(path, world["label"]))
        elif path.startswith("/api/v1/comments/"):
            urls.append(fill(path, world["comment"]))
        elif path.startswith("/api/v1/webhooks/"):
            urls.append(fill(path, world["webhook"]))
        else:
            raise AssertionError(f"no id to read {path} with: add it here")
    return urls


def json_bodies(client: Any, urls: list[str]) -> dict[str, Any]:
    bodies = {}
    for url in urls:
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("application/json"):
            bodies[url] = response.json()
    return bodies


def password_hashes(users: list[User]) -> list[str]:
    return [User.objects.get(pk=user.pk).password for user in users]


@pytest.mark.parametrize("role", ["member", "admin"])
def test_no_response_carries_a_password_or_its_hash(role, request, shared_world):
    client = request.getfixturevalue(f"{role}_client")
    bodies = json_bodies(client, readable_urls(shared_world, ""))
    hashes = password_hashes(shared_world["users"])

    assert len(bodies) >= 8  # the walk did read the API
    for url, body in bodies.items():
        strings = walk_strings(body)
        assert not [s for s in strings if "password" in s.lower()], url
        assert not [s for s in strings if s in hashes or s.startswith(("md5$", "argon2"))], url
        # A webhook's secret is shown once, at creation (an admin reads the webhook).
        assert not [s for s in strings if s.startswith("whsec_")], url
    if role == "admin":
        assert f"/api/v1/webhooks/{shared_world['webhook']}/" in bodies


def test_a_member_sees_no_other_users_email(member_client, shared_world, other_member):
    bodies = json_bodies(member_client, readable_urls(shared_world, ""))

    assert len(bodies) >= 8
    for url, body in bodies.items():
        assert "otto@example.com" not in str(body), url
        assert "manon@example.com" not in str(body), url
    # They do see that Otto is involved, by id only.
    assert bodies[f"/api/v1/tasks/{shared_world['task']}/"]["owner"] == other_member.pk


def test_each_resource_exposes_exactly_its_documented_fields(
    admin_client, member_client, shared_world
):
    task_id, file_id = shared_world["task"], shared_world["file"]
    project_id = shared_world["project"]

    assert set(admin_client.get(f"/api/v1/tasks/{task_id}/").json()) == TASK_FIELDS
    assert set(admin_client.get(f"/api/v1/tasks/{task_id}/").json()["subtasks"]) == {
        "total",
        "completed",
    }
    relations = member_client.get(f"/api/v1/tasks/{task_id}/relations/").json()["results"]
    assert [set(relation) for relation in relations] == [RELATION_SHAPE]
    comments = member_client.get(f"/api/v1/tasks/{task_id}/comments/").json()["results"]
    assert [set(comment) for comment in comments] == [COMMENT_SHAPE]
    assert set(comments[0]["author"]) == {"id", "username"}
    comment = member_client.get(f"/api/v1/comments/{shared_world['comment']}/").json()
    assert set(comment) == COMMENT_SHAPE
    notifications = member_client.get("/api/v1/notifications/").json()["results"]
    assert notifications  # she was mentioned
    for notification in notifications:
        assert set(notification) == NOTIFICATION_SHAPE
        assert set(notification["actor"]) == {"id", "username"}
    for event in member_client.get(f"/api/v1/tasks/{task_id}/events/").json()["results"]:
        assert set(event) == EVENT_SHAPE
        assert set(event["changes"]) <= TASK_FIELDS
    assert set(member_client.get(f"/api/v1/projects/{project_id}/").json()) == PROJECT_SHAPE
    for project in member_client.get("/api/v1/projects/").json()["results"]:
        assert set(project) == PROJECT_SHAPE
    members = member_client.get(f"/api/v1/projects/{project_id}/members/").json()["results"]
    assert len(members) == 2
    for membership in members:
        assert set(membership) == MEMBERSHIP_SHAPE
        assert set(membership["user"]) == {"id", "username"}
    labels = member_client.get(f"/api/v1/projects/{project_id}/labels/").json()["results"]
    assert [set(label) for label in labels] == [LABEL_SHAPE]
    assert set(member_client.get(f"/api/v1/labels/{shared_world['label']}/").json()) == LABEL_SHAPE
    assert set(member_client.get(f"/api/v1/files/{file_id}/").json()) == FILE_SHAPE
    assert set(member_client.get(ME_URL).json()) == USER_SHAPE
    for user in admin_client.get("/api/v1/users/").json()["results"]:
        assert set(user) == USER_SHAPE
    for session in member_client.get("/api/v1/auth/sessions/").json()["results"]:
        assert set(session) == SESSION_SHAPE


def test_the_cached_user_carries_no_password_hash(member_client, member):
    assert member_client.get(ME_URL).status_code == 200

    snapshot = cache.get(auth_cache.user_key(member.pk))

    assert snapshot, "the request should have cached the user"
    assert "password" not in snapshot
    assert User.objects.get(pk=member.pk).password not in str(snapshot)
