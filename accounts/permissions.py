from typing import cast

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import User


def request_user(request: Request) -> User:
    """The user of a request its view's permissions let through as authenticated
    (IsAuthenticated, the API's default): never AnonymousUser by then."""
    return cast(User, request.user)


class CanManageUsers(BasePermission):
    """Listing users and changing their role or status: the admin role's permission."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm("accounts.manage_users"))
