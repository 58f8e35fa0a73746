from django.db.models import QuerySet

from accounts.models import User
from notifications.models import Notification
from tasks.selectors import task_visible_to


def notifications_of(user: User) -> QuerySet[Notification]:
    """The user's notifications of the tasks they can see now (a task of a project
    they left is not shown), newest first."""
    notifications = (
        Notification.objects.filter(user_id=user.pk).select_related("actor").order_by("-id")
    )
    if user.has_perm("tasks.view_any_task"):
        return notifications
    return notifications.filter(task__in=task_visible_to(user).values("pk"))
