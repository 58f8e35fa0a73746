from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class CanManageUsers(BasePermission):
    """Listing users and changing their role or status: the admin role's permission."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm("accounts.manage_users"))
