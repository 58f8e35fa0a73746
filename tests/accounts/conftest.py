"""Users of each role, logging in through the API, and clients holding their tokens.

Module-level helpers (`assert_error`, `claims`, `bearer_client`) are imported by the
test modules: `from tests.accounts.conftest import assert_error`.
"""

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import Role
from tests.factories import PASSWORD, UserFactory

LOGIN_URL = "/api/v1/auth/login/"
ME_URL = "/api/v1/users/me/"
REFRESH_URL = "/api/v1/auth/refresh/"

Tokens = dict[str, Any]
Login = Callable[..., Tokens]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_password_hashers: hash passwords with the production hashers (slow)"
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest, settings: Any) -> None:
    # Argon2 costs ~0.1 s a hash; MD5 first keeps the suite fast while the project's
    # hashers still verify. `@pytest.mark.real_password_hashers` keeps the real list.
    if request.node.get_closest_marker("real_password_hashers") is None:
        settings.PASSWORD_HASHERS = [
            "django.contrib.auth.hashers.MD5PasswordHasher",
            *django_settings.PASSWORD_HASHERS,
        ]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is `status` in the error shape with `code`; returns the inner error."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, body
    assert error["code"] == code, body
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fields"], dict)
    return error


def assert_field_error(response: Any, field: str) -> dict[str, Any]:
    """400 validation_error naming `field` with at least one message."""
    error = assert_error(response, 400, "validation_error")
    assert field in error["fields"], error
    assert error["fields"][field], error
    return error


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def bearer_client(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


class TokenClient(APIClient):
    """An APIClient sending a Bearer access token, with the tokens it logged in with."""

    def __init__(self, tokens: Tokens, **defaults: Any) -> None:
        super().__init__(**defaults)
        self.tokens = tokens
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with committed(): response = client.post(...)` runs the after-commit effects.

    Tests run inside a transaction that never commits, so the cache updates that
    services publish after commit (ended sessions, changed users) would never
    happen; a real request commits before it answers, so they run at its end.
    """
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def login() -> Login:
    """`login(user_or_username, password=PASSWORD, **extra)` -> tokens; asserts 200.

    `extra` goes to the request (e.g. `REMOTE_ADDR="10.0.0.7"`, `HTTP_USER_AGENT=...`).
    """

    def _login(user: User | str, password: str = PASSWORD, **extra: Any) -> Tokens:
        username = user if isinstance(user, str) else user.username
        response = APIClient().post(
            LOGIN_URL, {"username": username, "password": password}, format="json", **extra
        )
        assert response.status_code == 200, response.content
        return response.json()

    return _login


@pytest.fixture
def client_for(login: Login) -> Callable[..., TokenClient]:
    """`client_for(user, **extra)` logs in (a new session) and returns a TokenClient."""

    def _client_for(user: User, **extra: Any) -> TokenClient:
        return TokenClient(login(user, **extra))

    return _client_for


@pytest.fixture
def member(db: None) -> User:
    return UserFactory(username="mia", email="mia@example.com")


@pytest.fixture
def other_member(db: None) -> User:
    return UserFactory(username="otto", email="otto@example.com")


@pytest.fixture
def manager(db: None) -> User:
    return UserFactory(username="manon", email="manon@example.com", role=Role.MANAGER)


@pytest.fixture
def admin(db: None) -> User:
    return UserFactory(username="ada", email="ada@example.com", role=Role.ADMIN)


@pytest.fixture
def member_client(member: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(member)


@pytest.fixture
def other_member_client(other_member: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(other_member)


@pytest.fixture
def manager_client(manager: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(manager)


@pytest.fixture
def admin_client(admin: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    """Overrides pytest-django's `admin_client`: an APIClient of an "admin"-role user."""
    return client_for(admin)
