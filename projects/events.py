"""A project's events: its changes and its members', read by its members (and the
member a membership event is about, who may just have left)."""

from typing import Any

from accounts.models import User
from activity import services as activity
from activity.kinds import EventKind
from activity.models import Event
from projects.models import Project

PROJECT_EVENTS = EventKind(
    name="project",
    actions=frozenset(
        {"created", "updated", "deleted", "member_added", "member_removed", "member_role_changed"}
    ),
    read_all_permission="projects.view_any_project",
    audience_actions=frozenset({"created", "deleted", "member_added", "member_removed"}),
)
CREATED, UPDATED, DELETED = "project.created", "project.updated", "project.deleted"
MEMBER_ADDED = "project.member_added"
MEMBER_REMOVED = "project.member_removed"
MEMBER_ROLE_CHANGED = "project.member_role_changed"

# What `changes` compares in a project's own events.
TRACKED_FIELDS = ("name", "description", "is_archived")


def record(
    *,
    type: str,
    project: Project,
    actor: User | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> Event:
    """Record a change of the project itself (states from `projects.state`). Its
    creation also names the creator: their sockets are not in the new project's
    audience yet, and learn of it from this event."""
    return activity.record(
        type=type,
        subject_id=project.pk,
        actor=actor,
        data=after or before or {},
        changes=activity.changes_between(before, after, TRACKED_FIELDS),
        project_id=project.pk,
        owner_id=actor.pk if type == CREATED and actor is not None else None,
    )


def record_member(
    *,
    type: str,
    project: dict[str, Any],
    member: dict[str, Any],
    actor: User | None,
    old_role: str | None,
    new_role: str | None,
) -> Event:
    """Record a member added, removed or given another role: `data` is the project
    with the `member` concerned, `changes` its role's [old, new]; that member reads it
    too (a removed one learns they left)."""
    return activity.record(
        type=type,
        subject_id=project["id"],
        actor=actor,
        data={**project, "member": member},
        changes={"role": [old_role, new_role]},
        project_id=project["id"],
        owner_id=member["user"]["id"],
    )


LABEL_EVENTS = EventKind(
    name="label",
    actions=frozenset({"created", "updated", "deleted"}),
    read_all_permission="projects.view_any_project",
)
LABEL_CREATED, LABEL_UPDATED, LABEL_DELETED = "label.created", "label.updated", "label.deleted"


def record_label(
    *,
    type: str,
    label_id: int,
    project_id: int,
    actor: User | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> Event:
    return activity.record(
        type=type,
        subject_id=label_id,
        actor=actor,
        data=after or before or {},
        changes=activity.changes_between(before, after, ("name", "color")),
        project_id=project_id,
    )
