"""Relations between tasks (issue 24): GET, POST /tasks/{id}/relations/ and DELETE
/tasks/{id}/relations/{rid}/, seen from either end; who may relate what; `blocked`
while a blocker is open (each flip a new version and event of the blocked task);
`?blocked=`; the `relation.created|deleted` events."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from projects.models import Project
from tasks.models import Relation
from tests.helpers import (
    TASKS_URL,
    TokenClient,
    assert_error,
    assert_field_error,
    page,
    parse_dt,
    task_url,
)
from tests.projects.helpers import join, new_project, project_url
from tests.tasks.collaboration_helpers import (
    create,
    events_since,
    garden,
    make_outsider,
    make_viewer,
    mark,
    patch,
    read,
    relate,
    relation_url,
    relations_url,
    row,
    snapshot,
    write,
)

pytestmark = pytest.mark.django_db

RELATION_SHAPE = {"id", "kind", "task", "other_task", "direction", "created_by", "created_at"}
KINDS = ["blocks", "relates_to", "duplicates"]
# The ordering lock's own statement, or the events' insert.
LOCKED_EVENTS = ("SELECT pg_advisory_xact_lock", 'INSERT INTO "activity_event"')


@pytest.fixture
def viewer(db: None) -> User:
    return make_viewer()


@pytest.fixture
def viewer_client(viewer: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(viewer)


@pytest.fixture
def outsider_client(client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(make_outsider())


@pytest.fixture
def project(member: User, other_member: User, viewer: User) -> Project:
    return garden(member, other_member, viewer)


@pytest.fixture
def a(member_client: TokenClient, project: Project) -> dict[str, Any]:
    return create(member_client, title="a", project=project.pk)


@pytest.fixture
def b(member_client: TokenClient, project: Project) -> dict[str, Any]:
    return create(member_client, title="b", project=project.pk)


@pytest.fixture
def c(member_client: TokenClient, project: Project) -> dict[str, Any]:
    return create(member_client, title="c", project=project.pk)


@pytest.fixture
def shed(other_member: User) -> Project:
    """Otto's project: Mia is not in it."""
    return new_project(other_member, "Otto's shed")


@pytest.fixture
def hidden(other_member_client: TokenClient, shed: Project) -> dict[str, Any]:
    """Otto's task that Mia cannot see."""
    return create(other_member_client, title="hidden", project=shed.pk)


def listing(client: TokenClient, task: Any) -> dict[str, Any]:
    return page(client.get(relations_url(task), {"limit": 100}))


def seen(client: TokenClient, task: Any) -> list[tuple[str, int, str]]:
    """(kind, other_task, direction) of each relation `client` lists for `task`."""
    return [(r["kind"], r["other_task"], r["direction"]) for r in listing(client, task)["results"]]


# --- create and list -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_relation_of_each_kind_is_created_with_its_shape(member_client, member, a, b, kind):
    response = write(member_client, "post", relations_url(a), {"kind": kind, "task": b["id"]})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == RELATION_SHAPE
    assert body["kind"] == kind
    assert body["task"] == a["id"]
    assert body["other_task"] == b["id"]
    assert body["direction"] == "outgoing"
    assert body["created_by"] == member.pk
    assert parse_dt(body["created_at"]) is not None
    relation = Relation.objects.get(pk=body["id"])
    assert (relation.task_id, relation.other_id, relation.kind) == (a["id"], b["id"], kind)


def test_relations_are_listed_from_both_ends(member_client, member, a, b, c):
    first = relate(member_client, a, b, "blocks")
    second = relate(member_client, c, a, "duplicates")
    third = relate(member_client, a, c, "relates_to")

    from_a = listing(member_client, a)
    assert from_a["count"] == 3
    assert all(set(r) == RELATION_SHAPE for r in from_a["results"])
    assert [r["id"] for r in from_a["results"]] == [first["id"], second["id"], third["id"]]
    assert seen(member_client, a) == [
        ("blocks", b["id"], "outgoing"),
        ("duplicates", c["id"], "incoming"),
        ("relates_to", c["id"], "outgoing"),
    ]
    assert all(r["task"] == a["id"] for r in from_a["results"])
    assert seen(member_client, b) == [("blocks", a["id"], "incoming")]
    incoming = listing(member_client, b)["results"][0]
    assert incoming == {**first, "task": b["id"], "other_task": a["id"], "direction": "incoming"}
    assert seen(member_client, c) == [
        ("duplicates", a["id"], "outgoing"),
        ("relates_to", a["id"], "incoming"),
    ]


def test_a_task_without_relations_lists_none(member_client, a):
    assert listing(member_client, a) == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_listing_is_paginated(member_client, a, b, c):
    relate(member_client, a, b, "blocks")
    relate(member_client, a, c, "blocks")
    relate(member_client, a, b, "relates_to")

    first = page(member_client.get(relations_url(a), {"limit": 2}))

    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert first["next"] is not None


def test_a_viewer_lists_the_relations(viewer_client, member_client, a, b):
    relate(member_client, a, b)

    assert seen(viewer_client, b) == [("blocks", a["id"], "incoming")]


def test_a_relation_to_a_task_the_caller_cannot_see_is_left_out(
    member_client, other_member_client, a, b, hidden
):
    relate(member_client, a, b, "relates_to")
    # Otto sees both Garden and his shed.
    relate(other_member_client, hidden, a, "blocks")
    relate(other_member_client, a, hidden, "duplicates")

    assert listing(member_client, a)["count"] == 1
    assert seen(member_client, a) == [("relates_to", b["id"], "outgoing")]
    assert seen(other_member_client, a) == [
        ("relates_to", b["id"], "outgoing"),
        ("blocks", hidden["id"], "incoming"),
        ("duplicates", hidden["id"], "outgoing"),
    ]


def test_a_different_kind_between_the_same_tasks_is_another_relation(member_client, a, b):
    relate(member_client, a, b, "blocks")
    relate(member_client, a, b, "relates_to")
    relate(member_client, b, a, "duplicates")

    assert Relation.objects.count() == 3
    assert listing(member_client, a)["count"] == 3


# --- refused ---------------------------------------------------------------------------


def test_a_task_cannot_be_related_to_itself(member_client, a):
    before = snapshot()

    response = write(member_client, "post", relations_url(a), {"kind": "blocks", "task": a["id"]})

    assert_field_error(response, "task")
    assert snapshot() == before


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_the_same_relation_twice_is_a_409(member_client, a, b, kind, reverse):
    relate(member_client, a, b, kind)
    before = snapshot()
    first, second = (b, a) if reverse else (a, b)

    response = write(
        member_client, "post", relations_url(first), {"kind": kind, "task": second["id"]}
    )

    error = assert_error(response, 409, "relation_exists")
    assert error["fields"] == {}
    assert snapshot() == before


def test_a_task_the_caller_cannot_see_is_refused_as_the_other_task(member_client, a, hidden):
    before = snapshot()

    response = write(
        member_client, "post", relations_url(a), {"kind": "blocks", "task": hidden["id"]}
    )

    error = assert_field_error(response, "task")
    assert "hidden" not in str(error)
    assert snapshot() == before


def test_an_unknown_other_task_is_refused(member_client, a):
    before = snapshot()

    response = write(member_client, "post", relations_url(a), {"kind": "blocks", "task": 10**9})

    assert_field_error(response, "task")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "follows", "task": "B"}, "kind"),
        ({"task": "B"}, "kind"),
        ({"kind": "blocks"}, "task"),
        ({"kind": "blocks", "task": "x"}, "task"),
        ({"kind": "blocks", "task": 0}, "task"),
        ({"kind": "blocks", "task": "B", "other": 1}, "other"),
    ],
)
def test_a_malformed_relation_is_refused(member_client, a, b, body, field):
    body = {k: (b["id"] if v == "B" else v) for k, v in body.items()}
    before = snapshot()

    response = write(member_client, "post", relations_url(a), body)

    assert_field_error(response, field)
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_task_the_caller_cannot_see_is_a_404(member_client, a, hidden, method):
    before = snapshot()
    body = {"kind": "blocks", "task": a["id"]} if method == "post" else None

    response = write(member_client, method, relations_url(hidden), body)

    assert_error(response, 404, "not_found")
    assert snapshot() == before


def test_an_outsider_gets_404_for_the_relations_of_a_task(outsider_client, member_client, a, b):
    relation = relate(member_client, a, b)
    before = snapshot()

    assert_error(outsider_client.get(relations_url(a)), 404, "not_found")
    response = write(outsider_client, "delete", relation_url(a, relation))

    assert_error(response, 404, "not_found")
    assert snapshot() == before


def test_a_viewer_may_not_relate_the_task(viewer_client, a, b):
    before = snapshot()

    response = write(viewer_client, "post", relations_url(a), {"kind": "blocks", "task": b["id"]})

    assert_error(response, 403, "permission_denied")
    assert snapshot() == before


def test_a_viewer_of_the_url_task_may_not_relate_it_even_to_a_task_she_writes(
    viewer_client, other_member_client, shed, viewer, a
):
    """Vera is a viewer of Garden and a member of Otto's shed: the URL's task decides."""
    join(shed, viewer, "member")
    tool = create(other_member_client, title="tool", project=shed.pk)
    vera = viewer_client
    before = snapshot()

    response = write(vera, "post", relations_url(a), {"kind": "blocks", "task": tool["id"]})

    assert_error(response, 403, "permission_denied")
    assert snapshot() == before
    # From her own task she may relate Garden's, which she sees.
    created = relate(vera, tool, a)
    assert created["other_task"] == a["id"]


# --- delete ------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["first", "second"])
def test_a_relation_is_deleted_from_either_end(member_client, member, project, a, b, end):
    relation = relate(member_client, a, b, "relates_to")
    since = mark()

    response = write(member_client, "delete", relation_url(a if end == "first" else b, relation))

    assert response.status_code == 204, response.content
    assert not Relation.objects.filter(pk=relation["id"]).exists()
    assert listing(member_client, a)["count"] == 0
    assert listing(member_client, b)["count"] == 0
    (event,) = events_since(since)
    assert event.type == "relation.deleted"
    assert event.subject_id == relation["id"]
    assert event.project_id == project.pk
    assert event.actor_id == member.pk
    assert event.data == {**relation, "direction": "outgoing"}


def test_a_relation_of_another_task_is_a_404(member_client, a, b, c):
    relation = relate(member_client, b, c)
    before = snapshot()

    response = write(member_client, "delete", relation_url(a, relation))

    assert_error(response, 404, "not_found")
    assert snapshot() == before


@pytest.mark.parametrize("relation_id", ["999999", "99999999999999999999999"])
def test_an_unknown_relation_is_a_404(member_client, a, b, relation_id):
    relate(member_client, a, b)
    before = snapshot()

    response = write(member_client, "delete", relation_url(a, relation_id))

    assert_error(response, 404, "not_found")
    assert snapshot() == before


def test_a_deleted_relation_is_a_404_the_second_time(member_client, a, b):
    relation = relate(member_client, a, b)
    assert write(member_client, "delete", relation_url(a, relation)).status_code == 204

    assert_error(write(member_client, "delete", relation_url(a, relation)), 404, "not_found")


def test_a_viewer_may_not_delete_a_relation(viewer_client, member_client, a, b):
    relation = relate(member_client, a, b)
    before = snapshot()

    response = write(viewer_client, "delete", relation_url(b, relation))

    assert_error(response, 403, "permission_denied")
    assert snapshot() == before


def test_deleting_a_task_takes_its_relations_away(member_client, a, b, c):
    relate(member_client, a, b, "relates_to")
    relate(member_client, c, a, "duplicates")

    assert write(member_client, "delete", task_url(a["id"])).status_code == 204

    assert listing(member_client, b)["count"] == 0
    assert listing(member_client, c)["count"] == 0
    assert Relation.objects.count() == 0


# --- events --------------------------------------------------------------------------------


def test_a_relation_across_projects_is_recorded_for_its_actor_only(
    other_member_client, other_member, project, shed, a, hidden
):
    since = mark()

    relation = relate(other_member_client, hidden, a, "blocks")

    # A member of one project must not learn the other task's id: no project audience.
    (event,) = events_since(since, type="relation.created")
    assert event.subject_id == relation["id"]
    assert event.project_id is None
    assert event.owner_id == other_member.pk
    assert event.actor_id == other_member.pk
    assert event.data == relation
    assert event.changes == {"kind": [None, "blocks"]}
    # Seen from the second task's end, deleted there: the same audience.
    since = mark()
    response = write(other_member_client, "delete", relation_url(a, relation))
    assert response.status_code == 204, response.content
    (deleted,) = events_since(since, type="relation.deleted")
    assert deleted.project_id is None
    assert deleted.owner_id == other_member.pk
    assert deleted.data == relation


def test_a_relation_within_a_project_is_recorded_for_its_members(member_client, member, a, b):
    since = mark()

    relation = relate(member_client, a, b, "relates_to")

    (event,) = events_since(since, type="relation.created")
    assert event.project_id == row(a).project_id
    assert event.owner_id is None
    assert event.data == relation


def test_a_relation_that_blocks_nothing_changes_no_task(member_client, a, b):
    since = mark()

    relate(member_client, a, b, "relates_to")
    relate(member_client, a, b, "duplicates")

    assert [e.type for e in events_since(since)] == ["relation.created", "relation.created"]
    assert read(member_client, b)["blocked"] is False
    assert row(b).version == b["version"]


# --- blocked -------------------------------------------------------------------------------


def assert_flipped(task: dict[str, Any], since: int, blocked: bool) -> None:
    """The blocked task's one new event says `blocked` flipped to `blocked`."""
    events = events_since(since, type="task.updated", subject=task["id"])
    assert [e.changes for e in events] == [{"blocked": [not blocked, blocked]}]
    assert events[0].data["blocked"] is blocked
    assert events[0].data["version"] == row(task).version


def test_blocked_follows_its_blocker(member_client, a, b):
    """a blocks b."""
    version = row(b).version
    since = mark()
    relation = relate(member_client, a, b, "blocks")
    assert read(member_client, b)["blocked"] is True
    # The blocker itself is not blocked.
    assert read(member_client, a)["blocked"] is False
    assert row(b).version == version + 1
    assert_flipped(b, since, True)

    since = mark()
    patch(member_client, a, status="completed")
    assert read(member_client, b)["blocked"] is False
    assert row(b).version == version + 2
    assert_flipped(b, since, False)

    since = mark()
    patch(member_client, a, status="in_progress")
    assert read(member_client, b)["blocked"] is True
    assert_flipped(b, since, True)

    # From one open status to another: nothing changes for b.
    since = mark()
    patch(member_client, a, status="pending")
    assert events_since(since, subject=b["id"]) == []

    since = mark()
    assert write(member_client, "delete", relation_url(a, relation)).status_code == 204
    assert read(member_client, b)["blocked"] is False
    assert_flipped(b, since, False)
    assert row(b).version == version + 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the ordering lock is PostgreSQL's")
def test_completing_a_blocker_takes_the_events_ordering_lock_last(member_client, a, b):
    # Every writer waits for the outbox's lock: a PATCH reads the tasks it blocks
    # before asking for it, and holds it only for its events' insert and the commit.
    relate(member_client, a, b, "blocks")
    since = mark()

    with CaptureQueriesContext(connection) as captured:
        patch(member_client, a, status="completed")

    statements = [query["sql"] for query in captured.captured_queries]
    locking = [n for n, sql in enumerate(statements) if "pg_advisory_xact_lock" in sql]
    read_blocked = [n for n, sql in enumerate(statements) if 'FROM "tasks_relation"' in sql]
    assert locking and read_blocked
    assert max(read_blocked) < min(locking)
    # Then only the events' insert (the test's transaction ends in a savepoint's release).
    after_lock = [sql for sql in statements[min(locking) :] if "SAVEPOINT" not in sql]
    assert all(sql.startswith(LOCKED_EVENTS) for sql in after_lock), after_lock
    # Both events, in order: the blocker's, then the one that unblocks b.
    assert [(e.subject_id, e.changes.get("blocked")) for e in events_since(since)] == [
        (a["id"], None),
        (b["id"], [True, False]),
    ]


def test_deleting_an_open_blocker_unblocks(member_client, a, b):
    relate(member_client, a, b, "blocks")
    since = mark()

    assert write(member_client, "delete", task_url(a["id"])).status_code == 204

    assert read(member_client, b)["blocked"] is False
    assert_flipped(b, since, False)


def test_deleting_the_project_of_an_open_blocker_unblocks_the_task_elsewhere(
    other_member_client, member_client, shed, a, hidden
):
    relate(other_member_client, hidden, a, "blocks")
    assert read(member_client, a)["blocked"] is True
    since = mark()

    response = write(other_member_client, "delete", project_url(shed))

    assert response.status_code == 204, response.content
    assert read(member_client, a)["blocked"] is False
    assert_flipped(a, since, False)


def test_deleting_a_completed_blocker_changes_nothing_for_the_blocked(member_client, a, b):
    relate(member_client, a, b, "blocks")
    patch(member_client, a, status="completed")
    version = row(b).version
    since = mark()

    assert write(member_client, "delete", task_url(a["id"])).status_code == 204

    assert read(member_client, b)["blocked"] is False
    assert row(b).version == version
    assert events_since(since, subject=b["id"]) == []


def test_a_completed_blocker_does_not_block(member_client, a, b):
    patch(member_client, a, status="completed")
    since = mark()

    relate(member_client, a, b, "blocks")

    assert read(member_client, b)["blocked"] is False
    assert events_since(since, subject=b["id"]) == []
    # Reopened, it does.
    patch(member_client, a, status="pending")
    assert read(member_client, b)["blocked"] is True


def test_a_second_blocker_changes_nothing_visible_until_the_last_is_done(member_client, a, b, c):
    """a and c block b: b is blocked until both are completed."""
    relate(member_client, a, b, "blocks")
    version = row(b).version
    since = mark()

    relate(member_client, c, b, "blocks")
    patch(member_client, a, status="completed")

    assert read(member_client, b)["blocked"] is True
    assert row(b).version == version
    assert events_since(since, subject=b["id"]) == []

    since = mark()
    patch(member_client, c, status="completed")
    assert read(member_client, b)["blocked"] is False
    assert_flipped(b, since, False)

    since = mark()
    patch(member_client, a, status="pending")
    patch(member_client, c, status="pending")
    assert read(member_client, b)["blocked"] is True
    assert_flipped(b, since, True)


def test_a_blocker_the_reader_cannot_see_still_blocks(
    member_client, other_member_client, a, hidden
):
    relate(other_member_client, hidden, a, "blocks")

    assert read(member_client, a)["blocked"] is True
    assert listing(member_client, a)["count"] == 0


# --- ?blocked= ------------------------------------------------------------------------------


def titles(client: TokenClient, **params: Any) -> tuple[list[str], int]:
    body = page(client.get(TASKS_URL, {"limit": 100, "ordering": "title", **params}))
    return [t["title"] for t in body["results"]], body["count"]


def test_blocked_filter(member_client, a, b, c):
    relate(member_client, a, b, "blocks")
    relate(member_client, a, c, "relates_to")
    assert titles(member_client, blocked="true") == (["b"], 1)
    assert titles(member_client, blocked="false") == (["a", "c"], 2)

    patch(member_client, a, status="completed")

    assert titles(member_client, blocked="true") == ([], 0)
    assert titles(member_client, blocked="false") == (["a", "b", "c"], 3)


@pytest.mark.parametrize("value", ["", "yes", "True", "1", "maybe"])
def test_a_blocked_filter_other_than_true_or_false_is_a_400(member_client, a, value):
    assert_field_error(member_client.get(TASKS_URL, {"blocked": value}), "blocked")
