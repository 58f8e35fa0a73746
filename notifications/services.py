"""Every write of notifications: those derived from events, in the transaction that
records the event (registered with activity.services.on_record), each with its own
`notification.created` event for its user's sockets; and marking them read."""

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from accounts.models import User
from activity.models import Event
from comments import events as comment_events
from notifications import events
from notifications.models import Notification, NotificationKind
from notifications.selectors import notifications_of
from projects.models import Membership
from tasks import events as task_events
from tasks.models import Task


def notifications_for_event(event: Event) -> None:
    """Notify the users an event concerns (never its actor): the new assignee of a
    task; the members a new comment mentions, and the task's owner and assignee (one
    notification per user and comment); the members an edit mentions anew. Events of
    other types, notifications' own included, notify no one."""
    if event.type in (task_events.CREATED, task_events.UPDATED):
        _assigned(event)
    elif event.type == comment_events.CREATED:
        _commented(event)
    elif event.type == comment_events.UPDATED:
        _mentioned_anew(event)


def notifies(event: Event) -> bool:
    """Whether `notifications_for_event` may write for the event: a task given an
    assignee other than its actor (created with one, or changed to one), a comment
    written or edited. Asked before a write too (activity.services.on_record)."""
    if event.type == task_events.CREATED:
        return event.data.get("assignee") not in (None, event.actor_id)
    if event.type == task_events.UPDATED:
        change = event.changes.get("assignee")
        return change is not None and change[1] not in (None, event.actor_id)
    return event.type in (comment_events.CREATED, comment_events.UPDATED)


def notification_read(*, user: User, notification_id: int) -> None:
    """Mark one of the user's notifications read; one read already keeps its time."""
    Notification.objects.filter(pk=notification_id, user_id=user.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notifications_read_all(*, user: User) -> int:
    """Mark every unread notification the user is shown read (those of tasks they no
    longer see stay as they are); how many."""
    unread = notifications_of(user).filter(read_at__isnull=True).order_by()
    return unread.update(read_at=timezone.now())


def _assigned(event: Event) -> None:
    if event.type == task_events.UPDATED and "assignee" not in event.changes:
        return
    assignee = event.data.get("assignee")
    if assignee is None:
        return
    _notify(event, NotificationKind.ASSIGNED, [assignee], task_id=event.subject_id)


def _commented(event: Event) -> None:
    comment: dict[str, Any] = event.data
    author = _author(comment)
    mentioned = {user_id for user_id in comment["mentions"] if user_id != author}
    _notify(event, NotificationKind.MENTIONED, mentioned, task_id=comment["task"])
    people = Task.objects.filter(pk=comment["task"]).values_list("owner_id", "assignee_id").first()
    if people is not None:
        # One notification per user and comment: a mention says more.
        others = set(people) - mentioned - {author}
        _notify(event, NotificationKind.COMMENTED, others, task_id=comment["task"])


def _mentioned_anew(event: Event) -> None:
    change = event.changes.get("mentions")
    if change is None:
        return
    old, new = set(change[0] or ()), set(change[1] or ())
    comment: dict[str, Any] = event.data
    anew = new - old - {_author(comment)}
    # Mentioned, unmentioned, mentioned again: told once.
    told = Notification.objects.filter(
        comment_id=event.subject_id, kind=NotificationKind.MENTIONED, user_id__in=anew
    ).values_list("user_id", flat=True)
    _notify(event, NotificationKind.MENTIONED, anew - set(told), task_id=comment["task"])


def _author(comment: dict[str, Any]) -> int | None:
    author = comment.get("author")
    return author["id"] if author else None


def _notify(
    event: Event, kind: NotificationKind, user_ids: Iterable[int | None], *, task_id: int
) -> None:
    """A notification of `kind` for each of `user_ids` who still sees the task, but
    the event's actor, each with its event."""
    wanted = {user_id for user_id in user_ids if user_id is not None} - {event.actor_id}
    if not wanted:
        return
    is_comment = event.type.startswith(f"{comment_events.COMMENT_EVENTS.name}.")
    for user_id in sorted(_seeing(event.project_id, wanted)):
        notification = Notification.objects.create(
            user_id=user_id,
            kind=kind,
            task_id=task_id,
            comment_id=event.subject_id if is_comment else None,
            actor=event.actor,
        )
        events.record_created(notification)


def _seeing(project_id: int | None, user_ids: set[int]) -> set[int]:
    """Those of the users who see the project's tasks: its members, and holders of
    `tasks.view_any_task`. A user who left the project is told nothing of it."""
    if project_id is None:  # every task is in a project: no event of one lacks it
        return set()
    members = set(
        Membership.objects.filter(project_id=project_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    others = user_ids - members
    if others:
        readers = User.objects.filter(pk__in=others, is_active=True)
        members |= {user.pk for user in readers if user.has_perm("tasks.view_any_task")}
    return members
