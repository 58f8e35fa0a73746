from rest_framework.request import Request
from rest_framework.views import APIView

from taskmanager.net import client_ip
from taskmanager.throttles import FixedWindowThrottle, IPThrottle, hashed


class LoginUsernameThrottle(FixedWindowThrottle):
    """Attempts per username and client IP: slows guessing one account's password."""

    scope = "login"

    def identity(self, request: Request, view: APIView) -> str | None:
        data = request.data
        name = (data.get("username") or data.get("email")) if hasattr(data, "get") else None
        if not isinstance(name, str) or not name:
            return None
        return f"{hashed(name.strip().lower())}:{client_ip(request)}"


class LoginIPThrottle(IPThrottle):
    """Attempts per client IP: slows spraying many usernames from one address."""

    scope = "login_ip"


class RegisterThrottle(IPThrottle):
    """Registrations per client IP, at the login rate."""

    scope = "login"

    def identity(self, request: Request, view: APIView) -> str | None:
        return f"register:{client_ip(request)}"


LOGIN_THROTTLES = [LoginIPThrottle, LoginUsernameThrottle]
