from django.db.models import Prefetch, QuerySet

from accounts.models import User
from comments.models import Comment
from tasks.selectors import task_visible_to


def _with_state(comments: QuerySet[Comment]) -> QuerySet[Comment]:
    """What `comment_state` reads, in two queries for any number of comments."""
    return comments.select_related("author").prefetch_related(
        Prefetch("mentions", queryset=User.objects.only("pk"))
    )


def comments_of(task_id: int) -> QuerySet[Comment]:
    """A task's comments, oldest first (the caller has checked that the task is
    visible)."""
    return _with_state(Comment.objects.filter(task_id=task_id).order_by("id"))


def comment_visible_to(user: User) -> QuerySet[Comment]:
    """The comments of the tasks the user can see (tasks.selectors.task_visible_to)."""
    comments = Comment.objects.order_by("id")
    if not user.has_perm("tasks.view_any_task"):
        comments = comments.filter(task__in=task_visible_to(user).values("pk"))
    return _with_state(comments)
