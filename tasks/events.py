"""The task-event outbox: one row per change, written in the change's transaction."""

from typing import Any

from accounts.models import User
from tasks.models import Task, TaskEvent
from tasks.serializers import TaskOutputSerializer

TRACKED_FIELDS = (
    "title",
    "description",
    "priority",
    "status",
    "due_date",
    "owner",
    "assignee",
    "completed_at",
)


def snapshot(task: Task) -> dict[str, Any]:
    """The task in the API's shape, JSON-ready (stored with events, sent to sockets)."""
    return dict(TaskOutputSerializer(task).data)


def record(
    *,
    kind: str,
    task: Task,
    actor: User,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    previous_assignee_id: int | None = None,
) -> TaskEvent:
    """Write the event of one change; `changes` maps each changed field to [old, new]."""
    old, new = before or {}, after or {}
    changes = {
        field: [old.get(field), new.get(field)]
        for field in TRACKED_FIELDS
        if old.get(field) != new.get(field)
    }
    return TaskEvent.objects.create(
        task_id=task.pk,
        kind=kind,
        actor_id=actor.pk,
        changes=changes,
        snapshot=new or old,
        owner_id=task.owner_id,
        assignee_id=task.assignee_id,
        previous_assignee_id=previous_assignee_id,
    )
