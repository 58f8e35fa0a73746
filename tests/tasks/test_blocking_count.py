"""`Task.blocking`, how many tasks a task blocks: kept by the relations' services, so
that a change completing or reopening a task that blocks none reads no relation. It is
never too low: a relation added after a PATCH's read fails its write's condition."""

import time
from importlib import import_module
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from projects.models import Project
from tasks import services
from tasks.models import Task
from tests.helpers import (
    TokenClient,
    own_connection,
    started_on_its_connection,
    task_url,
    waits_for_a_lock,
)
from tests.tasks.collaboration_helpers import (
    create,
    garden,
    make_viewer,
    patch,
    read,
    relate,
    relation_url,
    row,
    write,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(member: User, other_member: User) -> Project:
    return garden(member, other_member, make_viewer())


@pytest.fixture
def a(member_client: TokenClient, project: Project) -> dict[str, Any]:
    return create(member_client, title="a", project=project.pk)


@pytest.fixture
def b(member_client: TokenClient, project: Project) -> dict[str, Any]:
    return create(member_client, title="b", project=project.pk)


@pytest.fixture
def c(member_client: TokenClient, project: Project) -> dict[str, Any]:
    return create(member_client, title="c", project=project.pk)


def relation_reads(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if 'FROM "tasks_relation"' in q["sql"]]


def test_it_counts_the_tasks_a_task_blocks(member_client, a, b, c):
    first = relate(member_client, a, b, "blocks")
    relate(member_client, a, c, "blocks")
    relate(member_client, b, c, "relates_to")
    relate(member_client, c, a, "duplicates")

    assert [row(t).blocking for t in (a, b, c)] == [2, 0, 0]

    assert write(member_client, "delete", relation_url(b, first)).status_code == 204
    assert [row(t).blocking for t in (a, b, c)] == [1, 0, 0]


def test_completing_and_reopening_a_task_that_blocks_none_reads_no_relation(member_client, a, b):
    relate(member_client, b, a, "relates_to")

    for status in ("completed", "pending"):
        with CaptureQueriesContext(connection) as captured:
            assert patch(member_client, a, status=status)["status"] == status
        assert relation_reads(captured) == []


def test_completing_a_blocker_still_unblocks_what_it_blocks(member_client, a, b):
    relate(member_client, a, b, "blocks")

    with CaptureQueriesContext(connection) as captured:
        patch(member_client, a, status="completed")

    assert relation_reads(captured)
    assert read(member_client, b)["blocked"] is False
    patch(member_client, a, status="in_progress")
    assert read(member_client, b)["blocked"] is True


@pytest.fixture
def related_after_the_read(monkeypatch, member):
    """`a` comes to block `b` (another request's relation) between the view's read of
    `a` and its write."""
    real_apply = services._apply
    added: list[int] = []

    def apply_after_a_new_relation(actor, current, values, if_match, *, conditional):
        if conditional and not added:
            blocked = Task.objects.exclude(pk=current.pk).get(title="b")
            services.relation_create(actor=member, task=current, kind="blocks", other_id=blocked.pk)
            added.append(blocked.pk)
        return real_apply(actor, current, values, if_match, conditional=conditional)

    monkeypatch.setattr(services, "_apply", apply_after_a_new_relation)
    return added


def test_a_blocker_related_after_the_read_unblocks_what_it_came_to_block(
    member_client, a, b, related_after_the_read
):
    # The view read `a` blocking none; its write is on condition that it still blocks
    # none, so it is made again from the locked row, which reads the new relation.
    assert row(b).open_blockers == 0

    assert patch(member_client, a, status="completed")["status"] == "completed"

    assert related_after_the_read == [b["id"]]
    assert row(a).blocking == 1
    assert row(b).open_blockers == 0
    assert read(member_client, b)["blocked"] is False


def test_a_blocked_task_deleted_leaves_its_blocker_counting_it(member_client, a, b):
    # The relation goes with the task it blocked, unseen by the count: one too high
    # costs a completion of `a` only the read it would have saved.
    relate(member_client, a, b, "blocks")
    assert write(member_client, "delete", task_url(b["id"])).status_code == 204
    assert row(a).blocking == 1

    with CaptureQueriesContext(connection) as captured:
        assert patch(member_client, a, status="completed")["status"] == "completed"

    assert relation_reads(captured)


def test_the_migration_counts_the_relations_there_are(member_client, a, b, c):
    relate(member_client, a, b, "blocks")
    relate(member_client, a, c, "blocks")
    relate(member_client, c, b, "blocks")
    relate(member_client, b, a, "relates_to")
    Task.objects.update(blocking=0)

    with connection.cursor() as cursor:
        cursor.execute(import_module("tasks.migrations.0011_task_blocking").COUNT)

    assert [row(t).blocking for t in (a, b, c)] == [2, 0, 1]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks between connections: PostgreSQL"
)
def test_a_relation_deleted_while_its_blocker_is_completed_is_counted_once(member, project):
    # a and c block b. A PATCH completing a holds a's row until it commits, and counts
    # b one blocker less, seeing the relation. The relation's delete, meanwhile, waits
    # for a's row, then sees a completed: b still counts c.
    a, b, c = (services.task_create(actor=member, title=title, project=project) for title in "abc")
    relation = services.relation_create(actor=member, task=a, kind="blocks", other_id=b.pk)
    services.relation_create(actor=member, task=c, kind="blocks", other_id=b.pk)
    assert row(b).open_blockers == 2
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            services.relation_delete(actor=member, task=a, relation_id=relation.pk)
        except BaseException as exc:  # the test fails on it below
            errors.append(exc)

    with own_connection() as completing:
        completing.execute(
            "UPDATE tasks_task SET status = 'completed', completed_at = now(),"
            " version = version + 1 WHERE id = %s",
            [a.pk],
        )
        backend, thread = started_on_its_connection(delete)
        deadline = time.monotonic() + 10
        while not waits_for_a_lock(backend) and thread.is_alive():
            assert time.monotonic() < deadline, "the delete neither waited nor ended"
            time.sleep(0.02)
        waited = thread.is_alive()
        completing.execute(
            "UPDATE tasks_task SET open_blockers = open_blockers - 1 WHERE id = %s", [b.pk]
        )
        completing.commit()
        thread.join(timeout=10)

    assert not errors, errors
    assert waited, "the delete did not wait for the blocker's row"
    assert (row(b).open_blockers, row(a).blocking) == (1, 0)
