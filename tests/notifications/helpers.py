"""Helpers only the notification tests use; the shared ones are in tests/helpers.py."""

from typing import Any

from tests.helpers import page

NOTIFICATIONS_URL = "/api/v1/notifications/"
READ_ALL_URL = f"{NOTIFICATIONS_URL}read-all/"

NOTIFICATION_SHAPE = {"id", "kind", "task", "comment", "actor", "created_at", "read_at"}


def read_url(notification: Any) -> str:
    pk = (
        notification["id"]
        if isinstance(notification, dict)
        else getattr(notification, "pk", notification)
    )
    return f"{NOTIFICATIONS_URL}{pk}/read/"


def notifications(client: Any, **params: Any) -> list[dict[str, Any]]:
    """The caller's notifications as the API lists them (the first page)."""
    return list(page(client.get(NOTIFICATIONS_URL, params))["results"])


def kinds(client: Any) -> list[tuple[str, int, int | None]]:
    """(kind, task, comment) of the caller's notifications, newest first."""
    return [(n["kind"], n["task"], n["comment"]) for n in notifications(client)]
