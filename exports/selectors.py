"""Reads of the exports app: whose calendar feed a token opens, and the tasks the
feed and the CSV export read (the task list's visibility, tasks.selectors)."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Lower

from accounts.models import User
from exports.models import CalendarFeed
from projects.models import Label
from projects.selectors import archived_project_ids
from tasks.models import Task
from tasks.selectors import task_visible_to

TaskLabel = Task.labels.through

# The feed's events: tasks due from this long ago on, the earliest first, at most
# this many (docs/calendar-and-export.md). Both bound the document a
# calendar application fetches every few hours, whoever asks.
FEED_PAST = timedelta(days=90)
FEED_MAX_EVENTS = 5000

# What the feed shows of a task, and no more.
_FEED_COLUMNS = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "created_at",
    "updated_at",
    "version",
    "project",
    "project__name",
)


def _labels_by_name() -> Prefetch:
    return Prefetch("labels", queryset=Label.objects.only("id", "name").order_by(Lower("name")))


def calendar_feed_owner(token: str) -> User | None:
    """The user whose calendar feed `token` opens, or None: an unknown or rotated
    token, or a deactivated user (the caller answers all three alike)."""
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=CalendarFeed.hash_token(token))
        .first()
    )
    if feed is None or not feed.user.is_active:
        return None
    return feed.user


def calendar_feed_tasks(user: User, *, now: datetime) -> QuerySet[Task]:
    """The user's tasks with a due date for the feed: those the task list shows by
    default (visible, archived projects left out), due from `FEED_PAST` before `now`
    on, the earliest `FEED_MAX_EVENTS`, with their project's name and their labels
    (one query for each)."""
    return (
        task_visible_to(user)
        .exclude(project_id__in=archived_project_ids())
        .filter(due_date__gte=now - FEED_PAST)
        .select_related("project")
        .only(*_FEED_COLUMNS)
        .prefetch_related(_labels_by_name())
        # The id breaks ties: the same tasks in the same order on every fetch.
        .order_by("due_date", "id")[:FEED_MAX_EVENTS]
    )


# The CSV export's columns as the database gives them, in its order (exports.table).
EXPORT_FIELDS = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "completed_at",
    "project_id",
    "project__name",
    "owner__username",
    "assignee__username",
    "parent_id",
    "position",
    "created_at",
    "updated_at",
    "version",
)


def tasks_for_export(tasks: QuerySet[Task]) -> QuerySet[Task, tuple[Any, ...]]:
    """`tasks` (the task list's, filtered and ordered) as rows of `EXPORT_FIELDS`:
    project name and usernames joined in the same query. Tuples, not model
    instances: a fifth of the cost per row, for up to every task one can see."""
    return tasks.values_list(*EXPORT_FIELDS)


def label_names_of(task_ids: Sequence[int]) -> dict[int, list[str]]:
    """The names of these tasks' labels, each task's sorted by name: one query."""
    names: dict[int, list[str]] = {}
    rows = (
        TaskLabel.objects.filter(task_id__in=task_ids)
        .order_by(Lower("label__name"), "label_id")
        .values_list("task_id", "label__name")
    )
    for task_id, name in rows:
        names.setdefault(task_id, []).append(name)
    return names
