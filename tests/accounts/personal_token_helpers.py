"""Helpers of the personal API token tests (HTTP and socket alike)."""

from typing import Any

from rest_framework.test import APIClient

from accounts.models import User
from tests.helpers import TokenClient, bearer_client

TOKENS_URL = "/api/v1/auth/tokens/"
TOKEN_SHAPE = {"id", "name", "scopes", "prefix", "created_at", "expires_at", "last_used_at"}
EVERY_SCOPE = [
    "tasks:read",
    "tasks:write",
    "projects:read",
    "projects:write",
    "files:read",
    "files:write",
    "webhooks:manage",
]


def token_url(token: Any) -> str:
    pk = token["id"] if isinstance(token, dict) else getattr(token, "pk", token)
    return f"{TOKENS_URL}{pk}/"


def create_token(
    session: TokenClient, scopes: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """POST /auth/tokens/ with a login session's client; asserts 201. The body, whose
    `token` is the personal token."""
    body = {"name": "script", "scopes": scopes if scopes is not None else ["tasks:read"]}
    response = session.post(TOKENS_URL, {**body, **fields}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def pat_client(created: dict[str, Any] | str) -> APIClient:
    """A client sending the personal token (a create answer's, or the raw token)."""
    return bearer_client(created["token"] if isinstance(created, dict) else created)


def token_of(
    client_for: Any, user: User, scopes: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """A personal token of `user`, created from a new login session of theirs."""
    return create_token(client_for(user), scopes, **fields)
