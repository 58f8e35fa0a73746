"""activity/0002_task_events: the task events of version 1 (tasks_taskevent) move to
the outbox (activity_event) with their ids, and back when the migration is reversed.

Between the two states only: after them come version 2's migrations (projects,
tasks/0004-0005, activity/0004-0005), which the test leaves out on its way forward
and does not need to reverse with data in the tables."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User

# Before the outbox: no activity app, the task events still in tasks_taskevent.
BEFORE = [("activity", None), ("tasks", "0002_due_date_desc_index")]
# After the move (activity/0002, with 0003's permissions) and tasks_taskevent's
# removal (tasks/0003): version 1's last state.
AFTER = [("activity", "0003_admin_role_can_view_events"), ("tasks", "0003_delete_taskevent")]
OLD_FIELDS = (
    "id",
    "kind",
    "task_id",
    "actor_id",
    "snapshot",
    "changes",
    "owner_id",
    "assignee_id",
    "previous_assignee_id",
    "created_at",
)
NEW_FIELDS = (
    "id",
    "type",
    "subject_id",
    "actor_id",
    "data",
    "changes",
    "owner_id",
    "assignee_id",
    "previous_assignee_id",
    "created_at",
)


def migrate(targets: list[tuple[str, str | None]] | None = None) -> MigrationExecutor:
    """Migrate to `targets` (the leaf nodes by default), with a freshly read graph."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return MigrationExecutor(connection)


def apps_at(targets: list[tuple[str, str | None]]) -> Any:
    """The models as they are at `targets`, after migrating there."""
    state = migrate(targets).loader.project_state([t for t in targets if t[1] is not None])
    return state.apps


def old_account(username: str) -> User:
    """An account as version 1 made it: no personal project, no event of its own (its
    registration's would have to be reversed along with version 2's migrations)."""
    return User.objects.create_user(username=username, email=f"{username}@example.com")


def as_copied(row: dict[str, Any]) -> dict[str, Any]:
    """An old row as the outbox holds it."""
    return {
        "id": row["id"],
        "type": f"task.{row['kind']}",
        "subject_id": row["task_id"],
        "actor_id": row["actor_id"],
        "data": row["snapshot"],
        "changes": row["changes"],
        "owner_id": row["owner_id"],
        "assignee_id": row["assignee_id"],
        "previous_assignee_id": row["previous_assignee_id"],
        "created_at": row["created_at"],
    }


def as_copied_back(event: dict[str, Any]) -> dict[str, Any]:
    """An outbox row as tasks_taskevent holds it again."""
    return {
        "id": event["id"],
        "kind": event["type"].removeprefix("task."),
        "task_id": event["subject_id"],
        "actor_id": event["actor_id"],
        "snapshot": event["data"],
        "changes": event["changes"],
        "owner_id": event["owner_id"],
        "assignee_id": event["assignee_id"],
        "previous_assignee_id": event["previous_assignee_id"],
        "created_at": event["created_at"],
    }


def snapshot(task: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": task.pk,
        "title": task.title,
        "description": "",
        "priority": "medium",
        "status": "pending",
        "due_date": None,
        "owner": task.owner_id,
        "assignee": task.assignee_id,
        "created_at": "2026-01-02T03:04:05.678901Z",
        "updated_at": "2026-01-02T03:04:05.678901Z",
        "completed_at": None,
        "version": 1,
        **fields,
    }


def write_old_events(owner: User, assignee: User, other: User) -> list[dict[str, Any]]:
    """Events of each kind in tasks_taskevent, through the model of before: of a task
    that still exists and of one deleted since, one by a deleted account (actor null),
    ids with a gap (as rolled-back transactions leave). Their rows, oldest first."""
    apps = apps_at(BEFORE)
    Task = apps.get_model("tasks", "Task")
    TaskEvent = apps.get_model("tasks", "TaskEvent")
    kept = Task.objects.create(title="Café ☕ kept", owner_id=owner.pk, assignee_id=assignee.pk)
    gone = Task.objects.create(title="Deleted since", owner_id=owner.pk)
    gone_id = gone.pk
    gone.delete()
    assert not Task.objects.filter(pk=gone_id).exists()

    kept_state = snapshot(kept)
    gone_state = snapshot(gone, id=gone_id, assignee=None)
    rows = [
        TaskEvent(
            task_id=kept.pk,
            kind="created",
            actor_id=owner.pk,
            snapshot=kept_state,
            changes={},
            owner_id=owner.pk,
            assignee_id=assignee.pk,
        ),
        TaskEvent(
            task_id=kept.pk,
            kind="updated",
            actor_id=owner.pk,
            snapshot={**kept_state, "assignee": other.pk, "version": 2},
            changes={"assignee": [assignee.pk, other.pk]},
            owner_id=owner.pk,
            assignee_id=other.pk,
            previous_assignee_id=assignee.pk,
        ),
        TaskEvent(
            task_id=gone_id,
            kind="created",
            actor_id=owner.pk,
            snapshot=gone_state,
            changes={},
            owner_id=owner.pk,
        ),
        TaskEvent(
            task_id=gone_id,
            kind="updated",
            actor_id=None,
            snapshot={**gone_state, "description": 'nested "quotes" and ✓', "version": 2},
            changes={"description": ["", 'nested "quotes" and ✓']},
            owner_id=owner.pk,
        ),
    ]
    for row in rows:
        row.save()
    deleted = TaskEvent(
        id=rows[-1].pk + 500,
        task_id=gone_id,
        kind="deleted",
        actor_id=owner.pk,
        snapshot={**gone_state, "version": 2},
        changes={},
        owner_id=owner.pk,
    )
    deleted.save(force_insert=True)
    # Distinct times to the microsecond (auto_now_add set them on save).
    for number, event_id in enumerate(
        TaskEvent.objects.order_by("id").values_list("id", flat=True)
    ):
        at = datetime(2026, 1, 2, 3, 4, 5 + number, 678901 - number, tzinfo=UTC)
        TaskEvent.objects.filter(pk=event_id).update(created_at=at)
    return list(TaskEvent.objects.order_by("id").values(*OLD_FIELDS))


# Migrating rows needs committed transactions; the serialized rollback leaves the
# database as the next serialized test expects it.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_task_events_move_to_the_outbox_with_their_ids_and_back():
    owner, assignee, other = old_account("olive"), old_account("asa"), old_account("oren")
    try:
        old = write_old_events(owner, assignee, other)
        assert [row["kind"] for row in old] == [
            "created",
            "updated",
            "created",
            "updated",
            "deleted",
        ]
        assert old[3]["actor_id"] is None

        Event = apps_at(AFTER).get_model("activity", "Event")

        copied = list(Event.objects.order_by("id").values(*NEW_FIELDS))
        assert copied == [as_copied(row) for row in old]
        # A new event continues after the last id copied (PostgreSQL's sequence).
        recorded = Event.objects.create(
            type="task.updated",
            subject_id=old[0]["task_id"],
            actor_id=owner.pk,
            data={**old[1]["snapshot"], "title": "After the move", "version": 3},
            changes={"title": [old[1]["snapshot"]["title"], "After the move"]},
            owner_id=owner.pk,
            assignee_id=other.pk,
        )
        assert recorded.pk > max(row["id"] for row in old)
        everything = list(Event.objects.order_by("id").values(*NEW_FIELDS))
        assert everything == [*copied, everything[-1]]
        assert everything[-1]["id"] == recorded.pk

        TaskEvent = apps_at(BEFORE).get_model("tasks", "TaskEvent")

        restored = list(TaskEvent.objects.order_by("id").values(*OLD_FIELDS))
        assert restored == [*old, as_copied_back(everything[-1])]
        # And tasks_taskevent's own sequence continues after them.
        later = TaskEvent.objects.create(
            task_id=old[0]["task_id"], kind="updated", owner_id=owner.pk
        )
        assert later.pk > recorded.pk
    finally:
        migrate()
