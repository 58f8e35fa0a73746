"""Throttles of the doors that check a password.

Every door counts in the same two windows, so that guesses add up whichever way
they come: "login" per account and client IP, "login_ip" per client IP. The API's
login and token endpoints count through `LOGIN_THROTTLES`, the profile's
current-password check through `CURRENT_PASSWORD_THROTTLES`, and the HTML login
forms (admin, browsable API) through `password_attempt_wait` (accounts.forms).
"""

import math
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import HttpRequest
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts import usernames
from accounts.models import User
from accounts.permissions import request_user
from accounts.usernames import lowered
from taskmanager.net import client_ip
from taskmanager.throttles import FixedWindowThrottle, IPThrottle, hashed

# The longest email any account can have (EmailField's max_length).
MAX_EMAIL_LENGTH = User._meta.get_field("email").max_length or 254


def _login_name(data: Any) -> tuple[str, str] | None:
    """(field, name) of the account a login body names: `email` before `username`
    (a body with both is refused, and counted on the email's account). A number is
    refused as a name (not a string) but still counted as its text, so no spelling of
    a request escapes the count."""
    if not hasattr(data, "get"):
        return None
    for field in ("email", "username"):
        value = data.get(field)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        name = str(value).strip()
        if name:
            return field, name
    return None


def _account_name(field: str, name: str) -> str:
    """The username of the account `accounts.backends.find_login_user` would check,
    or `name` when there is none, so that a username and its account's email are
    one identity. One query, by the case-insensitive unique indexes, and only for a
    name that can be an email or is not ASCII."""
    # NFKC as the backend: a fullwidth `root` and `root` are one account, so one count.
    typed = (usernames.normalize_email if field == "email" else usernames.normalize_username)(
        name.strip()
    )
    name = typed.lower()
    if "@" not in name and name.isascii():
        return name  # a username: Python lowers ASCII as the database does
    if "\x00" in name or len(name) > MAX_EMAIL_LENGTH:
        return name  # no account has it (PostgreSQL refuses a NUL in a query: a 500)
    # Matched as the backend matches, lowered by the database: Python's lower() is
    # another function (PostgreSQL makes "MİA" "mia", Python "mi̇a"), and a spelling
    # lowered apart from its account's would get a count of its own.
    by_username = Q(username__lower=lowered(typed))
    if field == "email":
        match = Q(email__lower=lowered(typed))
    elif "@" not in name:
        match = by_username
    else:  # the backend tries the username first, then the email
        match = by_username | Q(email__lower=lowered(typed))
    found = list(
        User._default_manager.filter(match)
        .annotate(by_username=ExpressionWrapper(by_username, output_field=BooleanField()))
        .order_by("-by_username")
        .values_list("username", flat=True)[:1]
    )
    return found[0].lower() if found else name


def account_ident(request: HttpRequest | Request, field: str, name: str) -> str:
    """The "login" window's identity of an attempt on the account `name` names (a
    username or an email, any case, as `field` of a login) from the client's IP."""
    return f"{hashed(_account_name(field, name))}:{client_ip(request)}"


class LoginUsernameThrottle(FixedWindowThrottle):
    """Attempts per account and client IP: slows guessing one account's password,
    however the account is named (username or email, any case)."""

    scope = "login"

    def identity(self, request: Request, view: APIView) -> str | None:
        named = _login_name(request.data)
        if named is None:
            return None
        return account_ident(request, *named)


class LoginIPThrottle(IPThrottle):
    """Attempts per client IP: slows spraying many usernames from one address."""

    scope = "login_ip"


def password_attempt_wait(
    request: HttpRequest, username: str | None, *, user_id: int | None = None
) -> int | None:
    """Counts one password attempt of a Django view (a form) in the windows of
    `LOGIN_THROTTLES`: per client IP, and per account and IP when `username` (as
    `authenticate` gets it) names one; with `user_id` (a check of a signed-in user's
    own password), per user too, as `CurrentPasswordThrottle`. Seconds to wait when
    over any, else None.

    Every window counts every attempt, as DRF runs every throttle of a view. The
    cache down lets the attempt through, as the API's throttles do (logged)."""
    counts: list[tuple[FixedWindowThrottle, str]] = [(LoginIPThrottle(), client_ip(request))]
    if username and username.strip():
        counts.append((LoginUsernameThrottle(), account_ident(request, "username", username)))
    if user_id is not None:
        counts.append((CurrentPasswordThrottle(), _current_password_ident(user_id)))
    waits = [throttle.wait() for throttle, ident in counts if not throttle.count(request, ident)]
    return max(1, math.ceil(max(waits))) if waits else None


class RefreshThrottle(IPThrottle):
    """Refreshes per client IP. A refresh is not a guess (tokens are signed, and a
    reused one ends its session); this caps the work one address can ask for, at a
    rate an office behind NAT stays well under (each client refreshes a few times an
    hour)."""

    scope = "refresh"


class RegisterThrottle(IPThrottle):
    """Registrations per client IP, at the login rate."""

    scope = "login"

    def identity(self, request: HttpRequest | Request, view: APIView | None) -> str | None:
        return f"register:{client_ip(request)}"


def register_attempt_wait(request: HttpRequest) -> int | None:
    """Counts one registration through the HTML form (accounts/pages.py) in the
    window of the API's `RegisterThrottle`: seconds to wait when over it, else None."""
    throttle = RegisterThrottle()
    if throttle.count(request, throttle.identity(request, None)):
        return None
    return max(1, math.ceil(throttle.wait()))


def _checks_current_password(request: Request) -> bool:
    """Whether the request asks for a check of the user's current password: every
    such request counts, right or wrong, as logins do."""
    if request.method in SAFE_METHODS or not request.user.is_authenticated:
        return False
    data = request.data
    return hasattr(data, "get") and data.get("current_password") is not None


class CurrentPasswordThrottle(FixedWindowThrottle):
    """Checks of the current password on a profile change, per user from any
    address, at the login rate: a stolen access token must not make the check a
    guessing oracle."""

    scope = "login"

    def identity(self, request: Request, view: APIView) -> str | None:
        if not _checks_current_password(request):
            return None
        return _current_password_ident(request_user(request).pk)


def _current_password_ident(user_id: int) -> str:
    return f"current-password:user:{user_id}"


class CurrentPasswordLoginThrottle(LoginUsernameThrottle):
    """The same check counted as a login attempt on the account from this address,
    so that guesses through the profile and through a login add up."""

    def identity(self, request: Request, view: APIView) -> str | None:
        if not _checks_current_password(request):
            return None
        return account_ident(request, "username", request.user.get_username())


class CurrentPasswordIPThrottle(LoginIPThrottle):
    """The same check counted in the client IP's login window."""

    def identity(self, request: Request, view: APIView) -> str | None:
        if not _checks_current_password(request):
            return None
        return super().identity(request, view)


LOGIN_THROTTLES = [LoginIPThrottle, LoginUsernameThrottle]
CURRENT_PASSWORD_THROTTLES = [
    CurrentPasswordIPThrottle,
    CurrentPasswordLoginThrottle,
    CurrentPasswordThrottle,
]
