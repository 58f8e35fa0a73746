from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import User
from activity import kinds
from activity.models import Event
from taskmanager.datetimes import datetime_out


def events_visible_to(user: User, *, kind: str | None = None) -> QuerySet[Event]:
    """The events the user may read (activity.kinds), oldest first; of one kind
    (`task`) or of all."""
    chosen = [k for k in kinds.registered() if kind is None or k.name == kind]
    events = Event.objects.order_by("id")
    if not chosen:
        return events.none()
    if kind is not None:
        events = events.filter(type__in=sorted(chosen[0].types))
    # A kind without a "read all" permission is read by the users its events name only.
    read_all = [
        k
        for k in chosen
        if k.read_all_permission is not None and user.has_perm(k.read_all_permission)
    ]
    if len(read_all) == len(chosen):
        return events
    readable = Q(owner_id=user.pk) | Q(assignee_id=user.pk) | Q(previous_assignee_id=user.pk)
    provider = kinds.memberships()
    if provider is not None:
        mine = provider.project_ids(user)
        readable |= Q(project_id__in=mine) | Q(previous_project_id__in=mine)
    if read_all:
        readable |= Q(type__in=sorted(t for k in read_all for t in k.types))
    return events.filter(readable)


def event_message(event: Event) -> dict[str, Any]:
    """The event as WebSocket clients receive it (docs/asyncapi.yaml): the object's
    state under its kind's name (`"task": {...}`)."""
    return {
        "type": event.type,
        "event": event.pk,
        event.kind: event.data,
        "changes": event.changes,
        "actor": event.actor_id,
        "at": datetime_out(event.created_at),
    }
