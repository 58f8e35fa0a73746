"""Helpers only the comment tests use; the shared ones are in tests/helpers.py."""

from typing import Any

COMMENTS_URL = "/api/v1/comments/"

COMMENT_SHAPE = {
    "id",
    "task",
    "author",
    "body",
    "mentions",
    "created_at",
    "updated_at",
    "edited",
}


def _pk(obj: Any) -> Any:
    return obj["id"] if isinstance(obj, dict) else getattr(obj, "pk", obj)


def comments_url(task: Any) -> str:
    return f"/api/v1/tasks/{_pk(task)}/comments/"


def comment_url(comment: Any) -> str:
    return f"{COMMENTS_URL}{_pk(comment)}/"


def post_comment(client: Any, task: Any, body: str) -> dict[str, Any]:
    """POST a comment; asserts 201 and returns it."""
    response = client.post(comments_url(task), {"body": body}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())
