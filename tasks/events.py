"""A task's events: each write records what changed in the outbox (activity), in
its own transaction, naming who may read it."""

from typing import Any

from accounts.models import User
from activity import services as activity
from activity.kinds import EventKind
from activity.models import Event
from tasks.models import Task
from tasks.state import TRACKED_FIELDS

TASK_EVENTS = EventKind(
    name="task",
    actions=frozenset({"created", "updated", "deleted"}),
    read_all_permission="tasks.view_any_task",
)
CREATED, UPDATED, DELETED = "task.created", "task.updated", "task.deleted"


def record(
    *,
    type: str,
    task: Task,
    actor: User | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    previous_project_id: int | None = None,
) -> Event:
    """Record one change of `task` (states from `tasks.state.task_state`); `changes`
    maps each changed field to [old, new]. The members of its project read it, and
    those of the project it just left."""
    return activity.record(
        type=type,
        subject_id=task.pk,
        actor=actor,
        data=after or before or {},
        changes=activity.changes_between(before, after, TRACKED_FIELDS),
        project_id=task.project_id,
        previous_project_id=previous_project_id,
    )
