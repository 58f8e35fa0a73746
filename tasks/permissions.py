from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tasks.models import Task


class TaskAccess(BasePermission):
    """What a user may do with a task they can see (visibility is the queryset's job).

    Owners and assignees update; so does anyone with `tasks.change_any_task`
    (managers). Only owners and holders of `tasks.delete_any_task` (admins) delete.
    """

    def has_object_permission(self, request: Request, view: APIView, task: Task) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            return True
        if request.method == "DELETE":
            return task.owner_id == user.pk or user.has_perm("tasks.delete_any_task")
        return user.pk in (task.owner_id, task.assignee_id) or user.has_perm(
            "tasks.change_any_task"
        )
