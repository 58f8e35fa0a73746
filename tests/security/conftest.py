"""The OWASP API Security Top 10 (2023) suite: one module per risk.

Role fixtures and API helpers come from the accounts, tasks and files suites
(re-declared by importing them). The OpenAPI schema, generated once, is how the
modules enumerate endpoints instead of hand-picking a few.

Who is who:
    member ("mia")          owns `task` and `member_file`
    other_member ("otto")   owns `others_task`, `others_file` and his own session
    manager ("manon")       sees and changes every task; own files only
    admin ("ada")           everything, user management
"""

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from accounts.models import User
from tests.accounts.conftest import (  # noqa: F401
    _fast_password_hashing,
    admin,
    admin_client,
    assert_error,
    assert_field_error,
    bearer_client,
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
from tests.files.conftest import media_root, upload  # noqa: F401

HTTP_METHODS = ("get", "put", "patch", "post", "delete")


@cache
def openapi_schema() -> dict[str, Any]:
    """The schema drf-spectacular serves at /api/schema/ (public, no request)."""
    return SchemaGenerator().get_schema(request=None, public=True)


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(path template, method, operation) for every operation in the schema."""
    return [
        (path, method, item[method])
        for path, item in sorted(openapi_schema()["paths"].items())
        for method in HTTP_METHODS
        if method in item
    ]


def needs_authentication(operation: dict[str, Any]) -> bool:
    """An operation open to anonymous callers lists `{}` among its security options."""
    return {} not in operation.get("security", [{}])


def fill(path: str, value: Any) -> str:
    """The path template with every `{...}` parameter set to `value`."""
    return re.sub(r"\{[^}]+\}", str(value), path)


def walk_strings(value: Any) -> list[str]:
    """Every key and string value of a JSON document, recursively."""
    if isinstance(value, dict):
        return [*value.keys(), *(s for item in value.values() for s in walk_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in walk_strings(item)]
    return [value] if isinstance(value, str) else []


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    # The suite sends more requests than a minute's default allowance; the
    # throttle tests set small rates on top of these.
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "read": "10000/min",
        "write": "10000/min",
        "login": "10000/min",
        "login_ip": "10000/min",
    }


@pytest.fixture
def task(member: User) -> Any:  # noqa: F811
    """Mia's own task, assigned to nobody."""
    return TaskFactory(owner=member, title="Mia's task")


@pytest.fixture
def others_task(other_member: User) -> Any:  # noqa: F811
    """Otto's task, assigned to nobody: Mia cannot see it."""
    return TaskFactory(owner=other_member, title="Otto's private task", description="Private")


@pytest.fixture
def others_file(other_member_client: Any) -> dict[str, Any]:  # noqa: F811
    """A file Otto uploaded (the API body)."""
    return upload(other_member_client, "png")


Client = Callable[..., Any]
