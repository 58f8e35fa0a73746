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
    actor: User,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    previous_assignee_id: int | None = None,
) -> Event:
    """Record one change of `task` (states from `tasks.state.task_state`); `changes`
    maps each changed field to [old, new]. The task's owner and assignee read it, and
    the assignee it was taken from."""
    old, new = before or {}, after or {}
    changes = {
        field: [old.get(field), new.get(field)]
        for field in TRACKED_FIELDS
        if old.get(field) != new.get(field)
    }
    return activity.record(
        type=type,
        subject_id=task.pk,
        actor=actor,
        data=new or old,
        changes=changes,
        owner_id=task.owner_id,
        assignee_id=task.assignee_id,
        previous_assignee_id=previous_assignee_id,
    )
