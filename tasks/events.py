"""A task's events: each write records what changed in the outbox (activity), in
its own transaction, naming who may read it."""

from typing import Any

from accounts.models import User
from activity import services as activity
from activity.kinds import EventKind
from activity.models import Event
from taskmanager.datetimes import datetime_out
from taskmanager.statements import Statement
from tasks.models import Relation, Task
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
    return activity.record(**_fields(type, task, actor, before, after, previous_project_id))


def record_with(
    write: Statement,
    *,
    type: str,
    task: Task,
    actor: User | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    last: bool = False,
) -> Event | None:
    """`record` for the change `write` makes to the task's row, in one statement with
    it where it can (activity.services.record_with, as `last`); None if it changed no
    row."""
    return activity.record_with(write, last=last, **_fields(type, task, actor, before, after, None))


def record_drawn(
    written: Statement,
    *,
    drawn: dict[str, str],
    task: Task,
    actor: User | None,
    after: dict[str, Any],
    last: bool = False,
) -> Event | None:
    """The created event of a task whose id (and project, position) its insert draws
    (activity.services.record_drawn); None if it inserted none."""
    fields = _fields(CREATED, task, actor, None, after, None)
    return activity.record_drawn(written, drawn=drawn, last=last, **fields)


def _fields(
    type: str,
    task: Task,
    actor: User | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    previous_project_id: int | None,
) -> dict[str, Any]:
    return {
        "type": type,
        "subject_id": task.pk,
        "actor": actor,
        "data": after or before or {},
        "changes": activity.changes_between(before, after, TRACKED_FIELDS),
        "project_id": task.project_id,
        "previous_project_id": previous_project_id,
    }


RELATION_EVENTS = EventKind(
    name="relation",
    actions=frozenset({"created", "deleted"}),
    read_all_permission="tasks.view_any_task",
)
RELATION_CREATED, RELATION_DELETED = "relation.created", "relation.deleted"


def relation_state(relation: Relation) -> dict[str, Any]:
    """A relation from its first task's side (`task` blocks `other_task`...)."""
    return {
        "id": relation.pk,
        "kind": str(relation.kind),
        "task": relation.task_id,
        "other_task": relation.other_id,
        "direction": "outgoing",
        "created_by": relation.created_by_id,
        "created_at": datetime_out(relation.created_at),
    }


def record_relation(
    *, type: str, relation: Relation, actor: User | None, projects: tuple[int, int]
) -> Event:
    """A relation added or removed, between tasks of `projects` (the first task's, the
    other's): read by the project's members when both tasks are in one project. Across
    projects, by its actor (and "read all" holders) only: a member of one project must
    not learn the id of a task of the other; the blocked task's own event tells its
    project."""
    state = relation_state(relation)
    same_project = projects[0] == projects[1]
    return activity.record(
        type=type,
        subject_id=relation.pk,
        actor=actor,
        data=state,
        changes={
            "kind": [state["kind"], None] if type == RELATION_DELETED else [None, state["kind"]]
        },
        project_id=projects[0] if same_project else None,
        owner_id=None if same_project or actor is None else actor.pk,
    )
