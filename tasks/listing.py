"""The task list's rows when no filter is given, as most list requests ask: the
SQL compiled once per connection (taskmanager.prepared) from the querysets the
filtered path builds, and run with the reader's id."""

from typing import Any

from accounts.models import User
from taskmanager.prepared import PreparedRows
from tasks.filters import TaskFilter
from tasks.selectors import every_task, sees_every_task, tasks_of_member
from tasks.state import STATE_COLUMNS, TaskRow


def _unfiltered(tasks: Any) -> Any:
    # What the filter backend answers for a request without filters.
    return TaskFilter(queryset=tasks).qs.values_list(*STATE_COLUMNS)


_OF_MEMBER = PreparedRows(lambda user_id: _unfiltered(tasks_of_member(user_id)), arity=1)
_EVERY_TASK = PreparedRows(lambda: _unfiltered(every_task()), arity=0)


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
