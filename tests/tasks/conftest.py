"""Users of each role, their clients, tasks between them, and helpers for the task API.

The role fixtures come from the accounts suite (re-declared by importing them, since
pytest does not share fixtures between sibling conftest files). Helpers are imported by
the test modules: `from tests.tasks.conftest import TASKS_URL, task_url, ...`.

Who is who in every test module:
    member ("mia")          owns `task`; `assigned_task` is assigned to her
    other_member ("otto")   owns `assigned_task` and `others_task`
    manager ("manon")       sees and changes every task, deletes none
    admin ("ada")           sees, changes and deletes every task
"""

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from tests.accounts.conftest import (  # noqa: F401
    _fast_password_hashing,
    admin,
    admin_client,
    assert_error,
    assert_field_error,
    client_for,
    committed,
    login,
    manager,
    manager_client,
    member,
    member_client,
    other_member,
    other_member_client,
)
from tests.factories import TaskFactory

TASKS_URL = "/api/v1/tasks/"
STATS_URL = "/api/v1/tasks/statistics/"
FEED_URL = "/api/v1/tasks/events/"

TASK_SHAPE = {
    "id",
    "title",
    "description",
    "priority",
    "status",
    "due_date",
    "owner",
    "assignee",
    "created_at",
    "updated_at",
    "completed_at",
    "version",
}
EVENT_SHAPE = {"id", "task", "kind", "actor", "changes", "at"}
PAGE_SHAPE = {"count", "next", "previous", "results"}


def task_url(task_or_id: Any) -> str:
    pk = getattr(task_or_id, "pk", task_or_id)
    return f"{TASKS_URL}{pk}/"


def events_url(task_or_id: Any) -> str:
    return f"{task_url(task_or_id)}events/"


def page(response: Any) -> dict[str, Any]:
    """The body of a 200 paginated response."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == PAGE_SHAPE, body
    return body


def result_ids(response: Any) -> list[int]:
    """The ids of a 200 paginated response's results, in order."""
    return [item["id"] for item in page(response)["results"]]


def list_ids(client: Any, params: dict[str, Any] | None = None) -> list[int]:
    """The ids `client` gets from GET tasks/ (one page of up to 100)."""
    return result_ids(client.get(TASKS_URL, {"limit": 100, **(params or {})}))


def parse_dt(value: str | None) -> datetime | None:
    """An ISO string from the API (with "Z" or an offset) as an aware datetime."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"naive datetime in the API: {value!r}"
    return parsed


def iso(value: datetime) -> str:
    return value.isoformat()


def assert_error_shape(response: Any, status: int) -> dict[str, Any]:
    """`status` in the error shape, whatever its code (where the contract names none)."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, body
    assert isinstance(error["code"], str)
    assert error["code"]
    assert error["message"]
    return error


def assert_task_unchanged(before: Any) -> None:
    """The row is as it was in `before` (a Task read before the refused request)."""
    after = type(before).objects.get(pk=before.pk)
    for field in (
        "title",
        "description",
        "priority",
        "status",
        "due_date",
        "owner_id",
        "assignee_id",
        "updated_at",
        "completed_at",
        "version",
    ):
        assert getattr(after, field) == getattr(before, field), field


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    # Tests send more requests than a minute's default allowance; test_throttling
    # sets its own small rates on top of these.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def task(member: User) -> Any:  # noqa: F811
    """Mia's own task, assigned to nobody."""
    return TaskFactory(owner=member, title="Mia's task", description="Water the plants")


@pytest.fixture
def assigned_task(other_member: User, member: User) -> Any:  # noqa: F811
    """Otto's task, assigned to Mia."""
    return TaskFactory(
        owner=other_member, assignee=member, title="Otto's task for Mia", description="Review"
    )


@pytest.fixture
def others_task(other_member: User) -> Any:  # noqa: F811
    """Otto's task, assigned to nobody: Mia cannot see it."""
    return TaskFactory(owner=other_member, title="Otto's private task", description="Private")


@pytest.fixture
def past(now: datetime) -> datetime:
    return now - timedelta(days=2)


@pytest.fixture
def future(now: datetime) -> datetime:
    return now + timedelta(days=2)
