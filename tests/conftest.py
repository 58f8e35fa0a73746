"""Fixtures for every test folder: isolation of caches, channel layers, throttle
windows and uploads; users of each role with clients holding their tokens; tasks
between them. Plain helpers are in tests/helpers.py.

Who is who:
    member ("mia")          owns `task`; `assigned_task` is assigned to her
    other_member ("otto")   owns `assigned_task` and `others_task` (Mia cannot see it)
    manager ("manon")       sees and changes every task, deletes none; own files only
    admin ("ada")           sees, changes and deletes every task and file
"""

import copy
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from redis.connection import Connection
from rest_framework.test import APIClient

import taskmanager.redis_breaker
import taskmanager.throttles
from accounts.models import User
from accounts.roles import Role
from activity import publication
from tasks import caching
from tasks.models import Task
from tests.factories import PASSWORD, TaskFactory, UserFactory
from tests.helpers import LOGIN_URL, Login, TokenClient, Tokens

DAY = 24 * 60 * 60


@pytest.fixture(scope="session", autouse=True)
def _static_files_without_collectstatic() -> Iterator[None]:
    # The manifest storage needs `collectstatic`; tests render templates from the
    # app folders instead (tests/e2e checks the collected, production setup).
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


SCAN_KEYS_A_ROUND_TRIP = 10_000


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Each test gets its own cache key space, also on a Redis shared by xdist workers."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    with override_settings(CACHES=caches):
        yield
        if hasattr(cache, "delete_pattern"):
            # SCAN walks the whole Redis, every worker's keys: 10 a round trip (the
            # default) made it dozens of round trips a test.
            cache.delete_pattern("*", itersize=SCAN_KEYS_A_ROUND_TRIP)
        else:
            cache.clear()


@pytest.fixture(autouse=True)
def _throttle_windows_start_with_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttles count per fixed window (minute, hour, day). Their clock is moved so
    each test starts on a day boundary and runs in one window of every size; with the
    real clock a test that counts to a limit across a minute boundary saw its count
    start again and failed by chance."""
    started = time.time()
    shift = (started // DAY + 1) * DAY - started
    monkeypatch.setattr(
        taskmanager.throttles, "time", SimpleNamespace(time=lambda: time.time() + shift)
    )


@pytest.fixture(autouse=True)
def _redis_breaker_closed_at_start() -> None:
    """A Redis call that timed out under a loaded CI machine opens the process's
    breaker for REDIS_BREAKER_SECONDS; the tests that ran in those seconds, in the same
    xdist worker, failed with it (a CI run saw 50 errors from one slow answer). Each
    test starts with the breaker closed: the breaker's own tests open it themselves."""
    breaker = taskmanager.redis_breaker.redis_breaker()
    if breaker.is_open:
        breaker.succeeded()


@pytest.fixture(autouse=True)
def _isolated_channel_layer() -> Iterator[None]:
    """Each test gets a fresh channel layer; on Redis, its own key prefix, so groups
    such as "realtime.events" are not shared between xdist workers."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "prefix" in layers["default"].get("CONFIG", {}):
        layers["default"]["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex}"
    # Channels drops its layer instances whenever CHANNEL_LAYERS changes.
    with override_settings(CHANNEL_LAYERS=layers):
        yield


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
            *settings.PASSWORD_HASHERS,
        ]


@pytest.fixture
def media_root(tmp_path: Path, settings: Any) -> Path:
    """MEDIA_ROOT and the default storage on a fresh folder for the test (autouse in
    the folders that upload)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with committed(): response = client.post(...)` runs the after-commit effects.

    Tests run inside a transaction that never commits, so the cache updates that
    services publish after commit (ended sessions, changed users) would never
    happen; a real request commits before it answers, so they run at its end.
    """
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def commit_effects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The after-commit effects of a write, in the order they run: "counters" for
    the task lists' counters moved, "event" for each event published."""
    order: list[str] = []
    monkeypatch.setattr(caching, "_bump", lambda scopes: order.append("counters"))
    monkeypatch.setattr(
        publication, "_subscribers", [lambda events: order.extend(["event"] * len(events))]
    )
    return order


# --- users and their clients ----------------------------------------------------------


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


# --- tasks between them ---------------------------------------------------------------


@pytest.fixture
def task(member: User) -> Task:
    """Mia's own task, assigned to nobody."""
    return TaskFactory(owner=member, title="Mia's task", description="Water the plants")


@pytest.fixture
def assigned_task(other_member: User, member: User) -> Task:
    """Otto's task, assigned to Mia."""
    return TaskFactory(
        owner=other_member, assignee=member, title="Otto's task for Mia", description="Review"
    )


@pytest.fixture
def others_task(other_member: User) -> Task:
    """Otto's task, assigned to nobody: Mia cannot see it."""
    return TaskFactory(owner=other_member, title="Otto's private task", description="Private")


@pytest.fixture
def redis_packets(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every packet sent to Redis (one per round trip: a pipeline is one packet);
    `tests.helpers.commands` reads the commands in one."""
    sent: list[bytes] = []
    send = Connection.send_packed_command

    def record(connection: Connection, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        return send(connection, command, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", record)
    return sent
