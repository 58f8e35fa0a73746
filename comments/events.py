"""A comment's events: read by the members of its task's project (and holders of
`tasks.view_any_task`), as the task's are."""

from typing import Any

from accounts.models import User
from activity import services as activity
from activity.kinds import EventKind
from activity.models import Event
from comments.state import TRACKED_FIELDS

COMMENT_EVENTS = EventKind(
    name="comment",
    actions=frozenset({"created", "updated", "deleted"}),
    read_all_permission="tasks.view_any_task",
)
CREATED, UPDATED, DELETED = "comment.created", "comment.updated", "comment.deleted"


def record(
    *,
    type: str,
    comment_id: int,
    project_id: int,
    actor: User | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> Event:
    """Record one change of a comment (states from `comments.state.comment_state`):
    `data` is the comment after it (before it, for a deletion), `changes` each
    tracked field's [old, new]."""
    return activity.record(
        type=type,
        subject_id=comment_id,
        actor=actor,
        data=after or before or {},
        changes=activity.changes_between(before, after, TRACKED_FIELDS),
        project_id=project_id,
    )
