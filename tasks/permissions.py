from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import request_user
from projects.models import WRITE_ROLES, ProjectRole
from projects.selectors import role_in
from tasks.models import Task


def role_of(user_id: int, task: Task) -> str | None:
    """The user's role in the task's project: annotated by the viewset's queryset
    (`my_role`), else read."""
    if hasattr(task, "my_role"):
        return task.my_role
    return role_in(user_id, task.project_id)


def may_change(user: User, task: Task) -> bool:
    """Whether the user may change the task (and attach files to it): an admin or
    member of its project, or a holder of `tasks.change_any_task`."""
    return role_of(int(user.pk or 0), task) in WRITE_ROLES or user.has_perm("tasks.change_any_task")


def may_delete(user: User, task: Task) -> bool:
    """A project admin, its creator while a member, or a holder of `tasks.delete_any_task`."""
    role = role_of(int(user.pk or 0), task)
    return (
        role == ProjectRole.ADMIN
        or (role == ProjectRole.MEMBER and task.owner_id == user.pk)
        or user.has_perm("tasks.delete_any_task")
    )


class TaskAccess(BasePermission):
    """What a user may do with a task they can see (visibility is the queryset's job),
    by their role in its project: admins and members change it, viewers only read;
    a task is deleted by a project admin or by its creator while a member. Holders of
    `tasks.change_any_task` (managers) change every task, of `tasks.delete_any_task`
    (site admins) delete every one."""

    def has_object_permission(self, request: Request, view: APIView, task: Task) -> bool:
        if request.method in SAFE_METHODS:
            return True
        # Deleting the task itself; removing one of its relations is a change of it.
        if request.method == "DELETE" and getattr(view, "action", None) == "destroy":
            return may_delete(request_user(request), task)
        return may_change(request_user(request), task)
