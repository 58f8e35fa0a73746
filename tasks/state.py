"""A task's fields as clients see them: the one definition behind the API's task, the
state an event records and the cached lists (which hold API output)."""

from collections import namedtuple
from datetime import datetime
from typing import Any, Protocol

from taskmanager.datetimes import datetime_out

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


# The columns `task_state` reads: a list page reads only these, as named rows
# (`values_list(*STATE_COLUMNS, named=True)`), not as models (bench/RESULTS.md, issue 26).
STATE_COLUMNS = (
    "id",
    "project_id",
    "title",
    "description",
    "priority",
    "status",
    "due_date",
    "owner_id",
    "assignee_id",
    "created_at",
    "updated_at",
    "completed_at",
    "version",
    "label_ids",
    "parent_id",
    "position",
    "subtasks_total",
    "subtasks_completed",
    "open_blockers",
)
# A row of STATE_COLUMNS read without the ORM (tasks.listing).
TaskRow = namedtuple("TaskRow", STATE_COLUMNS)  # type: ignore[misc]


class TaskColumns(Protocol):
    """A task as `task_state` reads it: a `Task`, or a row of its STATE_COLUMNS."""

    @property
    def id(self) -> int: ...
    @property
    def project_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def due_date(self) -> datetime | None: ...
    @property
    def owner_id(self) -> int: ...
    @property
    def assignee_id(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def completed_at(self) -> datetime | None: ...
    @property
    def version(self) -> int: ...
    @property
    def label_ids(self) -> list[int]: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def position(self) -> str: ...
    @property
    def subtasks_total(self) -> int: ...
    @property
    def subtasks_completed(self) -> int: ...
    @property
    def open_blockers(self) -> int: ...


def task_state(task: TaskColumns) -> dict[str, Any]:
    """The task, JSON-ready. Written out rather than through a serializer's fields: a
    task is represented on every read and up to three times per write (before, after,
    the response)."""
    return {
        "id": task.id,
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
