"""Who may change a comment they can see (visibility is the selector's)."""

from accounts.models import User
from comments.models import Comment
from projects.models import ProjectRole
from tasks.models import Task
from tasks.permissions import may_change, role_of


def may_edit(user: User, comment: Comment, task: Task) -> bool:
    """Its author, while they may write on the task (a viewer only reads)."""
    return comment.author_id == user.pk and may_change(user, task)


def may_delete(user: User, comment: Comment, task: Task) -> bool:
    """Its author (while they may write on the task), an admin of the task's project,
    or a holder of `tasks.delete_any_task`."""
    return (
        role_of(int(user.pk or 0), task) == ProjectRole.ADMIN
        or user.has_perm("tasks.delete_any_task")
        or may_edit(user, comment, task)
    )
