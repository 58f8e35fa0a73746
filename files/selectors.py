from django.db.models import QuerySet

from accounts.models import User
from files.models import File


def file_visible_to(user: User) -> QuerySet[File]:
    """Every file for holders of `files.view_any_file` (admins); otherwise their own."""
    files = File.objects.order_by("-created_at", "-id")
    if user.has_perm("files.view_any_file"):
        return files
    return files.filter(owner_id=user.pk)
