"""A project, a membership and a label as clients see them: the API's shapes and what
an event records."""

from typing import Any

from projects.models import Label, Membership, Project
from taskmanager.datetimes import datetime_out

PROJECT_FIELDS = (
    "id",
    "name",
    "description",
    "is_personal",
    "is_archived",
    "members_count",
    "created_at",
    "updated_at",
    "version",
)


def project_state(project: Project, members_count: int) -> dict[str, Any]:
    """The project without the caller's `role` (the API adds it)."""
    return {
        "id": project.pk,
        "name": project.name,
        "description": project.description,
        "is_personal": project.is_personal,
        "is_archived": project.is_archived,
        "members_count": members_count,
        "created_at": datetime_out(project.created_at),
        "updated_at": datetime_out(project.updated_at),
        "version": project.version,
    }


def member_state(membership: Membership) -> dict[str, Any]:
    return {
        "user": {"id": membership.user_id, "username": membership.user.username},
        "role": membership.role,
        "added_at": datetime_out(membership.added_at),
    }


def label_state(label: Label) -> dict[str, Any]:
    return {"id": label.pk, "project": label.project_id, "name": label.name, "color": label.color}
