"""A task's fields as clients see them: the one definition behind the API's task, the
state an event records and the cached lists (which hold API output)."""

from typing import Any

from taskmanager.datetimes import datetime_out
from tasks.models import Task

STATE_FIELDS = (
    "id",
    "project",
    "title",
    "description",
    "priority",
    "status",
    "due_date",
    "owner",
    "assignee",
    "created_at",
    "updated_at",
    "completed_at",
    "version",
    "labels",
    "parent",
    "position",
    "subtasks",
    "blocked",
)
# What an event's `changes` compares: every field but the identity and bookkeeping.
TRACKED_FIELDS = tuple(
    name for name in STATE_FIELDS if name not in ("id", "created_at", "updated_at", "version")
)


def task_state(task: Task) -> dict[str, Any]:
    """The task, JSON-ready. Written out rather than through a serializer's fields: a
    task is represented on every read and up to three times per write (before, after,
    the response)."""
    return {
        "id": task.pk,
        "project": task.project_id,
        "title": task.title,
        "description": task.description,
        "priority": str(task.priority),
        "status": str(task.status),
        "due_date": datetime_out(task.due_date),
        "owner": task.owner_id,
        "assignee": task.assignee_id,
        "created_at": datetime_out(task.created_at),
        "updated_at": datetime_out(task.updated_at),
        "completed_at": datetime_out(task.completed_at),
        "version": task.version,
        "labels": task.label_ids,
        "parent": task.parent_id,
        "position": task.position,
        "subtasks": {"total": task.subtasks_total, "completed": task.subtasks_completed},
        "blocked": task.open_blockers > 0,
    }
