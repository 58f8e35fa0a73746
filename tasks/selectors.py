import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from activity.models import Event
from activity.selectors import events_visible_to
from projects.models import Project
from projects.selectors import my_role
from taskmanager.prepared import PreparedRows
from tasks import events
from tasks.models import Relation, Task

Status = Task.Status
Priority = Task.Priority


def task_visible_to(user: User) -> QuerySet[Task]:
    """Every task for holders of `tasks.view_any_task`; otherwise the tasks of the
    projects the user belongs to (archived ones included: lists leave those out)."""
    if sees_every_task(user):
        return every_task()
    return tasks_of_member(user.pk)


def sees_every_task(user: User) -> bool:
    return user.has_perm("tasks.view_any_task")


def every_task() -> QuerySet[Task]:
    return Task.objects.order_by("-created_at", "-id")


def tasks_of_member(user_id: int) -> QuerySet[Task]:
    """The tasks of the projects user `user_id` belongs to, newest first."""
    # A join, not `IN (subquery)`: cheaper to build, and one membership per project
    # and user repeats no row.
    return every_task().filter(project__memberships__user_id=user_id)


def task_writable_view_of(user: User) -> QuerySet[Task]:
    """The tasks `task_visible_to` gives, for a write: each with its project
    (archived?) and the user's role in it (`my_role`), in the same query. A member's
    is one join (the membership that makes the task visible holds the role), cheaper
    to build and to run than the subqueries (bench/RESULTS.md, issue 23)."""
    if user.has_perm("tasks.view_any_task"):
        return Task.objects.select_related("project").annotate(my_role=my_role(user.pk))
    return _writable_of_member(user.pk)


def _writable_of_member(user_id: int) -> QuerySet[Task]:
    return (
        Task.objects.select_related("project")
        .filter(project__memberships__user_id=user_id)
        .annotate(my_role=F("project__memberships__role"))
    )


def writable_task_of(user: User, task_id: int) -> Task | None:
    """`task_writable_view_of(user)`'s task `task_id`, or None. A member's is read by SQL
    compiled once and planned once (taskmanager.prepared): every PATCH, PUT and DELETE
    reads it, and building the query was a third of a PATCH's CPU (bench/RESULTS.md)."""
    if user.has_perm("tasks.view_any_task"):
        return task_writable_view_of(user).filter(pk=task_id).first()
    rows = _WRITABLE_OF_MEMBER.rows((user.pk, task_id))
    if not rows:
        return None
    task_columns, project_columns = _columns()
    (row,) = rows
    task = Task.from_db(DEFAULT_DB_ALIAS, task_columns, row[: len(task_columns)])
    project = Project.from_db(DEFAULT_DB_ALIAS, project_columns, row[len(task_columns) : -1])
    # As select_related("project") leaves it, with the role annotated.
    Task.project.field.set_cached_value(task, project)
    task.my_role = row[-1]  # type: ignore[attr-defined]  # an annotation, as the queryset's
    return task


@functools.cache
def _columns() -> tuple[list[str], list[str]]:
    """Every column of a task and of a project, in their models' order (`from_db`'s)."""
    return (
        [field.attname for field in Task._meta.concrete_fields],
        [field.attname for field in Project._meta.concrete_fields],
    )


def _writable_row_of_member(user_id: int, task_id: int) -> QuerySet[Any]:
    task_columns, project_columns = _columns()
    return (
        _writable_of_member(user_id)
        .filter(pk=task_id)
        .values_list(
            *task_columns, *(f"project__{column}" for column in project_columns), "my_role"
        )
    )


_WRITABLE_OF_MEMBER = PreparedRows(_writable_row_of_member, [int, int], on_server=True)


def task_events_visible_to(user: User) -> QuerySet[Event]:
    """Events of the tasks of the user's projects (as they are now), oldest first."""
    return events_visible_to(user, kind=events.TASK_EVENTS.name)


def task_history(task_id: int) -> QuerySet[Event]:
    """A task's events, oldest first (deleted tasks' too)."""
    return Event.objects.filter(
        subject_id=task_id, type__in=sorted(events.TASK_EVENTS.types)
    ).order_by("id")


def task_deleted_seen_by(user: User, task_id: int) -> bool:
    """Whether task `task_id` is deleted and its deletion event is one of the user's
    by the feed's rule (`task_events_visible_to`): a member of its project."""
    return events_visible_to(user).filter(subject_id=task_id, type=events.DELETED).exists()


def overdue_q(now: datetime | None = None) -> Q:
    """Tasks due before `now` (the current time if None) and not completed."""
    return Q(due_date__lt=now or timezone.now()) & ~Q(status=Status.COMPLETED)


def statistics_query(tasks: QuerySet[Task], now: datetime) -> QuerySet[Any]:
    """`tasks` grouped by status and priority (at most nine rows, summed by
    `statistics_of`): three aggregates for Django to build rather than one per figure,
    the larger part of an uncached request (bench/RESULTS.md). Each row: status,
    priority, count, overdue count, earliest due date at or after `now` of an open
    task."""
    return (
        tasks.order_by()
        .values_list("status", "priority")
        .annotate(
            count=Count("id"),
            overdue=Count("id", filter=overdue_q(now)),
            next_due=Min("due_date", filter=Q(due_date__gte=now) & ~Q(status=Status.COMPLETED)),
        )
    )


def statistics_of(groups: Iterable[Sequence[Any]]) -> tuple[dict[str, Any], datetime | None]:
    """Counts by status and priority, overdue and completion rate, from
    `statistics_query`'s rows; with the moment the overdue count next changes by itself
    (the earliest future due date of an open task), which bounds how long the figures
    may be cached."""
    by_status = dict.fromkeys(Status.values, 0)
    by_priority = dict.fromkeys(Priority.values, 0)
    total = overdue = 0
    next_due: datetime | None = None
    for status, priority, count, late, soonest in groups:
        total += count
        overdue += late
        if status in by_status:
            by_status[status] += count
        if priority in by_priority:
            by_priority[priority] += count
        if soonest is not None and (next_due is None or soonest < next_due):
            next_due = soonest
    completed = by_status[Status.COMPLETED]
    return {
        "total": total,
        "by_status": by_status,
        "by_priority": by_priority,
        "overdue": overdue,
        "completion_rate": round(completed / total, 4) if total else 0.0,
    }, next_due


def relations_of(user: User, task_id: int) -> QuerySet[Relation]:
    """The task's relations both ways, oldest first, to the tasks the user sees."""
    outgoing = Q(task_id=task_id, other__in=task_visible_to(user).values("pk"))
    incoming = Q(other_id=task_id, task__in=task_visible_to(user).values("pk"))
    return Relation.objects.filter(outgoing | incoming).order_by("id")
