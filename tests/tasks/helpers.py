"""Helpers only the task tests use; the shared ones are in tests/helpers.py."""

from datetime import datetime
from typing import Any

from tests.helpers import TASKS_URL, result_ids, task_url

STATS_URL = "/api/v1/tasks/statistics/"


def events_url(task_or_id: Any) -> str:
    return f"{task_url(task_or_id)}events/"


def list_ids(client: Any, params: dict[str, Any] | None = None) -> list[int]:
    """The ids `client` gets from GET tasks/ (one page of up to 100)."""
    return result_ids(client.get(TASKS_URL, {"limit": 100, **(params or {})}))


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
