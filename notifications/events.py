"""A notification's event: read by its one user, whatever anyone's permissions (the
kind has no "read all" permission), and pushed to their sockets."""

from activity import services as activity
from activity.kinds import EventKind
from activity.models import Event
from notifications.models import Notification
from notifications.state import notification_state

NOTIFICATION_EVENTS = EventKind(name="notification", actions=frozenset({"created"}))
CREATED = "notification.created"


def record_created(notification: Notification) -> Event:
    """No project: only the user it names (`owner`) reads it."""
    return activity.record(
        type=CREATED,
        subject_id=notification.pk,
        actor=notification.actor,
        data=notification_state(notification),
        changes={},
        owner_id=notification.user_id,
    )
