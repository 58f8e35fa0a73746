"""API4:2023 Unrestricted Resource Consumption.

Every paginated list of the schema answers at most 100 items, and a `limit` past
that (or an `offset` past a million) is refused as the schema says (an account's
personal API tokens never number more than 50, the 51st is a 409: their list is
paginated like the others, and one page holds them all); uploads stop at
UPLOAD_MAX_BYTES and other bodies at DATA_UPLOAD_MAX_MEMORY_SIZE (413, nothing
stored); string fields and headers have bounds; a bulk change names at most 100
tasks, each counted against its own rate; socket messages have a size limit and a
rate limit; and every API operation is throttled, with `Retry-After` on the 429.
"""

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import personal_tokens
from accounts.models import PersonalToken, User, UserSession
from activity.models import Event
from comments.models import Comment
from comments.services import comment_create
from files.models import File
from notifications.models import Notification, NotificationKind
from projects.models import Label, Membership, Project, ProjectRole
from projects.services import label_create, project_create
from tasks.models import Relation, Task
from tests.factories import TaskFactory
from tests.files.samples import text_of_size
from tests.helpers import assert_error, post_file
from tests.realtime.sockets import TIMEOUT, connected, receive, send, socket
from tests.security.helpers import fill, openapi_schema, operations
from webhooks.models import Delivery, Webhook
from webhooks.services import webhook_create

MAX_PAGE = 100
MANY = MAX_PAGE + 5
# Paginated lists whose items are bounded below a page: an account holds at most
# personal_tokens.MAX_PER_USER tokens, so their list never reaches MANY.
BOUNDED = {"/api/v1/auth/tokens/": personal_tokens.MAX_PER_USER}


def paginated_paths() -> list[str]:
    return sorted(
        path
        for path, item in openapi_schema()["paths"].items()
        if "get" in item and any(p["name"] == "limit" for p in item["get"].get("parameters", []))
    )


@pytest.fixture
def crowded(admin: User) -> dict[str, Any]:
    """More than a page of everything the admin can list (rows written in bulk): tasks
    and their events in the admin's personal project, files, sessions, users, and
    projects, one of them with that many members and labels; the first task with
    that many comments (the admin notified of each) and relations; that many webhooks
    of the crowded project, the first with that many deliveries; and as many personal
    tokens as an account may hold."""
    now = timezone.now()
    personal = Project.objects.get(personal_owner=admin)
    tasks = Task.objects.bulk_create(
        Task(project=personal, owner=admin, title=f"Bulk {n}", position=f"{n + 1:010d}")
        for n in range(MANY)
    )
    Event.objects.bulk_create(
        Event(
            subject_id=tasks[0].pk,
            type="task.updated",
            actor=admin,
            project_id=personal.pk,
        )
        for _ in range(MANY)
    )
    File.objects.bulk_create(
        File(
            owner=admin,
            name=f"f{n}.txt",
            storage_name=f"uploads/00/{uuid.uuid4().hex}",
            size=1,
            content_type="text/plain",
            sha256="0" * 64,
        )
        for n in range(MANY)
    )
    UserSession.objects.bulk_create(
        UserSession(user=admin, refresh_jti=uuid.uuid4().hex, expires_at=now + timedelta(days=1))
        for _ in range(MANY)
    )
    users = User.objects.bulk_create(
        User(username=f"bulk{n}", email=f"bulk{n}@example.com") for n in range(MANY)
    )
    projects = Project.objects.bulk_create(Project(name=f"Bulk {n}") for n in range(MANY))
    Membership.objects.bulk_create(
        Membership(project=project, user=admin, role=ProjectRole.ADMIN) for project in projects
    )
    crowded_project = projects[0]
    Membership.objects.bulk_create(
        Membership(project=crowded_project, user=user, role=ProjectRole.MEMBER) for user in users
    )
    Label.objects.bulk_create(
        Label(project=crowded_project, name=f"Bulk {n}", color="#336699") for n in range(MANY)
    )
    # Comments on the first task, and the admin's notifications of them.
    comments = Comment.objects.bulk_create(
        Comment(task=tasks[0], author=users[0], body=f"Bulk {n}") for n in range(MANY)
    )
    Notification.objects.bulk_create(
        Notification(
            user=admin,
            kind=NotificationKind.COMMENTED,
            task=tasks[0],
            comment=comment,
            actor=users[0],
        )
        for comment in comments
    )
    # The first task relates to every other one: more than a page of its relations.
    Relation.objects.bulk_create(
        Relation(task=tasks[0], other=other, kind=Relation.Kind.RELATES_TO, created_by=admin)
        for other in tasks[1:]
    )
    webhooks = Webhook.objects.bulk_create(
        Webhook(
            project=crowded_project,
            url=f"https://hooks.example.com/{n}",
            created_by=admin,
            secret=f"whsec_{n}",
        )
        for n in range(MANY)
    )
    Delivery.objects.bulk_create(
        Delivery(
            webhook=webhooks[0],
            message_id=f"test_{n}",
            event_type="webhook.test",
            payload={"type": "webhook.test"},
            status=Delivery.Status.SUCCEEDED,
            next_attempt_at=now,
        )
        for n in range(MANY)
    )
    PersonalToken.objects.bulk_create(
        PersonalToken(
            user=admin,
            name=f"Bulk {n}",
            scopes=["tasks:read"],
            prefix=f"tm_pat_{n:06d}",
            key_hash=f"{n:064x}",
        )
        for n in range(personal_tokens.MAX_PER_USER)
    )
    return {"task": tasks[0].pk, "project": crowded_project.pk, "webhook": webhooks[0].pk}


def url_of(path: str, ids: dict[str, Any]) -> str:
    """The path with the id of the crowded object it lists under."""
    if path.startswith("/api/v1/projects/"):
        return fill(path, ids["project"])
    if path.startswith("/api/v1/webhooks/"):
        return fill(path, ids["webhook"])
    return fill(path, ids["task"])


def test_the_schema_lists_the_paginated_lists():
    assert len(paginated_paths()) >= 6
    assert {
        "/api/v1/auth/tokens/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{webhook_id}/deliveries/",
    } <= set(paginated_paths())


@pytest.mark.parametrize("path", sorted(set(paginated_paths()) - set(BOUNDED)))
def test_no_list_answers_more_than_a_hundred_items(path, admin_client, crowded):
    response = admin_client.get(url_of(path, crowded), {"limit": str(MAX_PAGE)})

    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == MAX_PAGE
    assert body["count"] > MAX_PAGE
    assert body["next"]


@pytest.mark.parametrize("path", sorted(BOUNDED))
def test_a_bounded_list_is_paginated_and_holds_no_more_than_its_bound(path, admin_client, crowded):
    bound = BOUNDED[path]

    whole = admin_client.get(url_of(path, crowded), {"limit": str(MAX_PAGE)})
    first = admin_client.get(url_of(path, crowded), {"limit": "20"})

    assert whole.status_code == 200, whole.content
    assert (len(whole.json()["results"]), whole.json()["count"]) == (bound, bound)
    assert whole.json()["next"] is None
    assert len(first.json()["results"]) == 20
    assert first.json()["next"]


def test_an_account_holds_at_most_fifty_personal_tokens(admin, admin_client, crowded):
    # The bound of its list: the 51st is refused, and nothing is created.
    assert PersonalToken.objects.filter(user=admin).count() == personal_tokens.MAX_PER_USER == 50

    response = admin_client.post(
        "/api/v1/auth/tokens/", {"name": "One more", "scopes": ["tasks:read"]}, format="json"
    )

    assert_error(response, 409, "conflict")
    assert PersonalToken.objects.filter(user=admin).count() == 50


@pytest.mark.parametrize("path", paginated_paths())
@pytest.mark.parametrize("limit", ["101", "1000000000", "9" * 400])
def test_a_limit_past_a_hundred_is_refused_not_capped(path, limit, admin_client, crowded):
    response = admin_client.get(url_of(path, crowded), {"limit": limit})

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["limit"]


@pytest.mark.parametrize("path", paginated_paths())
@pytest.mark.parametrize("limit", ["0", "-1", "1e9", "0x10", "abc", "+5", " 5"])
def test_nonsense_limits_are_refused_not_defaulted(path, limit, admin_client, crowded):
    response = admin_client.get(url_of(path, crowded), {"limit": limit})

    error = assert_error(response, 400, "validation_error")
    assert "limit" in error["fields"]


@pytest.mark.parametrize("path", paginated_paths())
def test_the_deepest_offset_answers_an_empty_page(path, admin_client, crowded):
    response = admin_client.get(url_of(path, crowded), {"offset": "1000000"})

    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


@pytest.mark.parametrize("path", paginated_paths())
def test_an_offset_past_a_million_is_refused(path, admin_client, crowded):
    for offset in ("1000001", str(2**63), "9" * 400):
        response = admin_client.get(url_of(path, crowded), {"offset": offset})

        error = assert_error(response, 400, "validation_error")
        assert list(error["fields"]) == ["offset"]


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(
    member_client, settings, media_root
):
    settings.UPLOAD_MAX_BYTES = 2048

    response = post_file(member_client, "big.txt", text_of_size(4096))

    assert_error(response, 413, "payload_too_large")
    assert not File.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_an_upload_declaring_a_large_body_is_refused_before_it_is_read(member_client, settings):
    settings.UPLOAD_MAX_BYTES = 2048

    response = post_file(
        member_client, "small.txt", text_of_size(10), CONTENT_LENGTH=str(10 * 1024 * 1024)
    )

    assert_error(response, 413, "payload_too_large")


def json_writes() -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, method, op in operations()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]


@pytest.mark.parametrize(("path", "method"), json_writes())
def test_every_json_body_over_the_limit_is_refused(path, method, admin, admin_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = json.dumps({"title": "x" * 8192})
    # Ids that exist (the admin's own), so the refusal is the body's.
    project = project_create(actor=admin, name="Admin's")
    task = TaskFactory(owner=admin)
    own = {
        "/api/v1/users/": admin.pk,
        "/api/v1/projects/": project.pk,
        "/api/v1/labels/": label_create(
            actor=admin, project_id=project.pk, name="Mine", color="#336699"
        ).pk,
        "/api/v1/comments/": comment_create(actor=admin, task=task, body="Mine").pk,
        "/api/v1/webhooks/": webhook_create(
            actor=admin,
            project_id=project.pk,
            url="https://hooks.example.com/taskmanager",
            event_types=[],
            description="Mine",
        ).pk,
    }
    url = re.sub(r"\{user_id\}", str(admin.pk), path)
    prefix = next((p for p in own if path.startswith(p)), None)
    url = fill(url, own[prefix] if prefix else task.pk)

    response = getattr(admin_client, method)(url, body, content_type="application/json")

    assert_error(response, 413, "payload_too_large")


def test_a_form_with_too_many_fields_is_refused(db):
    body = "&".join(f"f{n}=1" for n in range(2000))

    response = APIClient().post(
        "/api/v1/auth/token/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code in (400, 413), response.content
    assert "error" in response.json()


@pytest.mark.parametrize(("field", "size"), [("title", 201), ("description", 10001)])
def test_task_text_fields_are_bounded(field, size, member_client):
    body = {"title": "ok", field: "x" * size}

    response = member_client.post("/api/v1/tasks/", body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert field in error["fields"]


def test_an_idempotency_key_is_bounded(member_client):
    response = member_client.post(
        "/api/v1/tasks/", {"title": "ok"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )

    assert_error(response, 400, "validation_error")
    assert not Task.objects.exists()


# --- bulk changes ----------------------------------------------------------------------

BULK_URLS = ["/api/v1/tasks/bulk/", "/api/v1/tasks/bulk-delete/"]


def bulk_body(url: str, ids: list[int]) -> dict[str, Any]:
    return {"ids": ids, "set": {"priority": "high"}} if url.endswith("/bulk/") else {"ids": ids}


def tasks_of(owner: User, count: int) -> list[int]:
    """`count` tasks in the owner's personal project (rows written in bulk)."""
    personal = Project.objects.get(personal_owner=owner)
    tasks = Task.objects.bulk_create(
        Task(project=personal, owner=owner, title=f"Bulk {n}", position=f"{n + 1:010d}")
        for n in range(count)
    )
    return [task.pk for task in tasks]


def task_rows() -> list[tuple[Any, ...]]:
    return sorted(Task.objects.values_list("id", "priority", "version"))


@pytest.mark.parametrize("url", BULK_URLS)
def test_a_bulk_request_names_at_most_a_hundred_tasks(url, member, member_client):
    ids = tasks_of(member, MAX_PAGE + 1)
    before = task_rows()

    refused = member_client.post(url, bulk_body(url, ids), format="json")

    error = assert_error(refused, 400, "validation_error")
    assert list(error["fields"]) == ["ids"]
    assert task_rows() == before
    # The control: a hundred is fine.
    assert member_client.post(url, bulk_body(url, ids[:MAX_PAGE]), format="json").status_code in (
        200,
        204,
    )


@pytest.mark.parametrize("url", BULK_URLS)
def test_bulk_changes_count_each_task_against_the_bulk_rate_with_retry_after(
    url, member, member_client, other_member, other_member_client, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "bulk_tasks": "5/min"}
    ids = tasks_of(member, 6)

    # One task named three times counts once; then three tasks: four of five.
    repeated = member_client.post(url, bulk_body(url, [ids[0]] * 3), format="json")
    allowed = member_client.post(url, bulk_body(url, ids[1:4]), format="json")
    before = task_rows()
    refused = member_client.post(url, bulk_body(url, ids[4:6]), format="json")

    assert (repeated.status_code, allowed.status_code) in ((200, 200), (204, 204))
    error = assert_error(refused, 429, "throttled")
    assert error["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert task_rows() == before
    # Per user: someone else is not held up.
    others = tasks_of(other_member, 2)
    assert other_member_client.post(url, bulk_body(url, others), format="json").status_code in (
        200,
        204,
    )


# --- sockets -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("authenticated", [True, False])
async def test_an_oversized_socket_message_is_refused_and_closes_the_socket(
    authenticated, member_client
):
    communicator = socket(token=member_client.tokens["access"] if authenticated else None)
    if authenticated:
        await connected(communicator)
    else:
        assert (await communicator.connect())[0]

    await send(communicator, {"type": "ping", "pad": "x" * 5000})

    error = await receive(communicator)
    assert error["error"]["code"] == "payload_too_large"
    closing = await communicator.receive_output(TIMEOUT)
    assert closing == {"type": "websocket.close", "code": 4413}
    await communicator.disconnect()


FLOOD = 300


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_socket_flooding_messages_is_rate_limited(member_client):
    # Each message costs the server work (a resume reads up to 1000 events); a client
    # must not be able to send them as fast as it can write.
    communicator = socket(token=member_client.tokens["access"])
    await connected(communicator)
    for _ in range(FLOOD):
        await send(communicator, {"type": "resume", "after": 0})

    limited, served = False, 0
    while served < FLOOD and not limited:
        output = await communicator.receive_output(TIMEOUT)
        if output["type"] == "websocket.close":
            limited = True
            break
        message = json.loads(output["text"])
        if message["type"] == "error":
            assert message["error"]["code"] == "throttled", message
            limited = True
        served += message["type"] == "resumed"
    await communicator.disconnect()

    assert limited, f"{FLOOD} messages in a burst were all served"


# --- throttles -----------------------------------------------------------------------


def unthrottled_operations() -> list[str]:
    found = []
    for path, method, _ in operations():
        view = resolve(fill(path, 1)).func
        cls = view.cls
        actions = getattr(view, "actions", None) or {}
        handler = actions.get(method, method)
        throttles = getattr(getattr(cls, handler, None), "kwargs", {}).get(
            "throttle_classes", cls.throttle_classes
        )
        if not throttles:
            found.append(f"{method.upper()} {path}")
    return found


def test_every_api_operation_is_throttled():
    # DEFAULT_THROTTLE_CLASSES is empty: a view without its own throttle_classes
    # can be called as fast as a client can send.
    unthrottled = unthrottled_operations()

    assert unthrottled == [], "not throttled:\n" + "\n".join(unthrottled)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "/api/v1/tasks/", "read"),
        ("get", "/api/v1/tasks/statistics/", "read"),
        ("get", "/api/v1/tasks/events/", "read"),
        ("get", "/api/v1/files/", "read"),
        ("post", "/api/v1/tasks/", "write"),
        ("post", "/api/v1/files/", "write"),
    ],
)
def test_reads_and_writes_are_throttled_per_user_with_retry_after(
    method, path, scope, member_client, other_member_client, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, scope: "3/min"}

    answers = [getattr(member_client, method)(path, {}).status_code for _ in range(3)]
    refused = getattr(member_client, method)(path, {})

    assert 429 not in answers
    error = assert_error(refused, 429, "throttled")
    assert error["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-RateLimit-Remaining"] == "0"
    # Per user: someone else is not held up.
    assert getattr(other_member_client, method)(path, {}).status_code != 429
