"""A notification as its user sees it: the API's shape and what its event records."""

from typing import Any

from notifications.models import Notification
from taskmanager.datetimes import datetime_out

STATE_FIELDS = ("id", "kind", "task", "comment", "actor", "created_at", "read_at")


def notification_state(notification: Notification) -> dict[str, Any]:
    """The notification, JSON-ready; its actor read with it (`select_related`)."""
    actor = notification.actor
    return {
        "id": notification.pk,
        "kind": str(notification.kind),
        "task": notification.task_id,
        "comment": notification.comment_id,
        "actor": None if actor is None else {"id": actor.pk, "username": actor.username},
        "created_at": datetime_out(notification.created_at),
        "read_at": datetime_out(notification.read_at),
    }
