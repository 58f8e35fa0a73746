from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from files.models import File


class FileAccess(BasePermission):
    """Who may delete a file they can see (visibility is the queryset's job): its
    owner, and holders of `files.delete_any_file` (admins)."""

    def has_object_permission(self, request: Request, view: APIView, file: File) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return file.owner_id == request.user.pk or request.user.has_perm("files.delete_any_file")
