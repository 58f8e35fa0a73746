from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts import usernames
from accounts.models import User
from accounts.usernames import lowered


class UsernameOrEmailBackend(ModelBackend):
    """Username or email, whatever their case.

    Keeps ModelBackend's defences: the hasher runs for unknown users too (no timing
    oracle), inactive users are refused, and an outdated hash (bcrypt, PBKDF2) is
    upgraded to Argon2 by `check_password` on success.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if password is None or not (username or email):
            return None
        user = find_login_user(username=username, email=email)
        if user is None:
            User().set_password(password)  # same work as a real check
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def find_login_user(*, username: str | None, email: str | None) -> User | None:
    """The account a login names, by its name normalized as every door stores names
    (NFKC: a fullwidth `root` is `root`). A name stored before that normalization,
    which no normalized name matches, is still found as it was typed."""
    given = (email or username or "").strip()
    user = _find_login_user(
        usernames.normalize_email(given) if email else usernames.normalize_username(given),
        by_email_only=bool(email),
    )
    if user is None and usernames.normalize_username(given) != given:
        user = _find_login_user(given, by_email_only=bool(email))
    return user


def _find_login_user(name: str, *, by_email_only: bool) -> User | None:
    users = User._default_manager
    if by_email_only:
        return users.filter(email__lower=lowered(name)).first()
    user = users.filter(username__lower=lowered(name)).first()
    if user is None and "@" in name:
        user = users.filter(email__lower=lowered(name)).first()
    return user
