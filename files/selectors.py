from django.db.models import Q, QuerySet

from accounts.models import User
from files.models import File
from tasks.selectors import task_visible_to


def file_visible_to(user: User) -> QuerySet[File]:
    """Every file for holders of `files.view_any_file` (admins); otherwise their own
    and the attachments of the tasks they see (their projects')."""
    files = File.objects.order_by("-created_at", "-id")
    if user.has_perm("files.view_any_file"):
        return files
    return files.filter(Q(owner_id=user.pk) | Q(task_id__in=task_visible_to(user).values("pk")))
