"""The task list's rows and the statistics' groups when no filter is given, as most
requests ask: the SQL compiled once per connection (taskmanager.prepared) from the
querysets the filtered path builds, and run with the reader's id (and the time)."""

from datetime import datetime
from typing import Any

from accounts.models import User
from projects.selectors import project_ids_of_member
from taskmanager.prepared import PreparedRows, PreparedTopRows
from tasks.filters import TaskFilter
from tasks.selectors import every_task, sees_every_task, statistics_query, tasks_of_member
from tasks.state import STATE_COLUMNS, TaskRow


def _unfiltered(tasks: Any) -> Any:
    # What the filter backend answers for a request without filters.
    return TaskFilter(queryset=tasks).qs


# A member's first pages project by project (taskmanager.prepared): ten pages of the
# default size, two of the largest.
FIRST_ROWS = 200
_OF_MEMBER = PreparedTopRows(
    lambda user_id: _unfiltered(tasks_of_member(user_id)).values_list(*STATE_COLUMNS),
    [int],
    # The projects whose tasks that lists: the reader's, archived ones left out (as
    # ProjectScopeFilter leaves them out without `include_archived`).
    groups=lambda user_id: project_ids_of_member(user_id).filter(project__is_archived=False),
    one_group=lambda project_id: (
        every_task().filter(project_id=project_id).values_list(*STATE_COLUMNS)
    ),
    top=FIRST_ROWS,
)
_EVERY_TASK = PreparedRows(lambda: _unfiltered(every_task()).values_list(*STATE_COLUMNS), [])
_STATISTICS_OF_MEMBER = PreparedRows(
    lambda user_id, now: statistics_query(_unfiltered(tasks_of_member(user_id)), now),
    [int, datetime],
)
_STATISTICS_OF_EVERY_TASK = PreparedRows(
    lambda now: statistics_query(_unfiltered(every_task()), now), [datetime]
)


def unfiltered_statistics(user: User, now: datetime) -> list[Any]:
    """`statistics_query`'s rows of the tasks `user` counts without filters."""
    if sees_every_task(user):
        return _STATISTICS_OF_EVERY_TASK.rows((now,))
    return _STATISTICS_OF_MEMBER.rows((user.pk, now))


class UnfilteredRows:
    """The rows of the tasks `user` lists without filters, sliced by the paginator as
    it slices a queryset."""

    def __init__(self, user: User) -> None:
        self.user = user

    def __getitem__(self, page: slice) -> list[TaskRow]:
        offset = page.start or 0
        limit = page.stop - offset
        if sees_every_task(self.user):
            rows = _EVERY_TASK.page((), offset, limit)
        else:
            rows = _OF_MEMBER.page((self.user.pk,), offset, limit)
        return [TaskRow._make(row) for row in rows]
