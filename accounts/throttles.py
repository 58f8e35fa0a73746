from typing import Any

from django.db.models import Q
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import User, lowered
from taskmanager.net import client_ip
from taskmanager.throttles import FixedWindowThrottle, IPThrottle, hashed

# The longest email any account can have (EmailField's max_length).
MAX_EMAIL_LENGTH = User._meta.get_field("email").max_length or 254


def _login_name(data: Any) -> tuple[str, str] | None:
    """(field, lower-cased name) of the account a login body names, read as the
    view reads it: `email` wins over `username`, and numbers are names too (DRF's
    CharField accepts them), so no spelling of a request escapes the count."""
    if not hasattr(data, "get"):
        return None
    for field in ("email", "username"):
        value = data.get(field)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        name = str(value).strip().lower()
        if name:
            return field, name
    return None


def _account_name(field: str, name: str) -> str:
    """The username of the account `accounts.backends.find_login_user` would check,
    or `name` when there is none, so that a username and its account's email are
    one identity. One query, by the case-insensitive unique indexes, and only for a
    name that can be an email."""
    if "@" not in name:
        return name  # a username: compared lower-cased, as the backend does
    if "\x00" in name or len(name) > MAX_EMAIL_LENGTH:
        return name  # no account has it (PostgreSQL refuses a NUL in a query: a 500)
    if field == "email":
        match = Q(email__lower=lowered(name))
    else:  # the backend tries the username first, then the email
        match = Q(username__lower=lowered(name)) | Q(email__lower=lowered(name))
    found = list(User._default_manager.filter(match).values_list("username", "email")[:2])
    for username, _ in found:
        if field == "username" and username.lower() == name:
            return name
    return found[0][0].lower() if found else name


class LoginUsernameThrottle(FixedWindowThrottle):
    """Attempts per account and client IP: slows guessing one account's password,
    however the account is named (username or email, any case)."""

    scope = "login"

    def identity(self, request: Request, view: APIView) -> str | None:
        named = _login_name(request.data)
        if named is None:
            return None
        return f"{hashed(_account_name(*named))}:{client_ip(request)}"


class LoginIPThrottle(IPThrottle):
    """Attempts per client IP: slows spraying many usernames from one address."""

    scope = "login_ip"


class RefreshThrottle(IPThrottle):
    """Refreshes per client IP. A refresh is not a guess (tokens are signed, and a
    reused one ends its session); this caps the work one address can ask for, at a
    rate an office behind NAT stays well under (each client refreshes a few times an
    hour)."""

    scope = "refresh"


class RegisterThrottle(IPThrottle):
    """Registrations per client IP, at the login rate."""

    scope = "login"

    def identity(self, request: Request, view: APIView) -> str | None:
        return f"register:{client_ip(request)}"


class CurrentPasswordThrottle(FixedWindowThrottle):
    """Checks of the current password on a profile change, per user, at the login
    rate: a stolen access token must not make the check a guessing oracle. Every
    request that gives `current_password` counts, right or wrong, as logins do."""

    scope = "login"

    def identity(self, request: Request, view: APIView) -> str | None:
        if request.method in SAFE_METHODS or not request.user.is_authenticated:
            return None
        data = request.data
        if not hasattr(data, "get") or data.get("current_password") is None:
            return None
        return f"current-password:user:{request.user.pk}"


LOGIN_THROTTLES = [LoginIPThrottle, LoginUsernameThrottle]
