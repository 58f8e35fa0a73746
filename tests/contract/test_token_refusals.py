"""The schema's 403 since personal API tokens (accounts.scopes): a token without the
scopes of an operation, or on an operation no token may use, is a 403
`insufficient_scope` whatever the method, so every authenticated operation declares
403; the reads any token may make (the API root, `GET /users/me/`) cannot answer it
and do not declare it. Checked against the server: a token of one scope is refused
with a 403 on an operation outside it."""

from typing import Any

import pytest
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator

from accounts import scopes
from taskmanager.schema import ANY_TOKEN_READ, AUTHENTICATED, errors
from tests.accounts.personal_token_helpers import pat_client, token_of
from tests.helpers import assert_error
from tests.security.helpers import fill, needs_authentication

HTTP_METHODS = ("get", "put", "patch", "post", "delete")
INSUFFICIENT_SCOPE = "`insufficient_scope`"
# Reads open to every token that still declare 403 (none: the API root and
# GET /users/me/ take `errors(ANY_TOKEN_READ)`).
STILL_DECLARING_403: set[tuple[str, str]] = set()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in sorted(schema["paths"].items())
        for method in HTTP_METHODS
        if method in item
    ]


def needed(path: str, method: str) -> scopes.Needed:
    """The scopes a token needs for the operation, as the server decides them."""
    callback = resolve(fill(path, 1)).func
    view = callback.cls(**getattr(callback, "initkwargs", {}))
    actions = getattr(callback, "actions", None)
    if actions:
        view.action = actions[method]
    return scopes.needed_scopes(view, method.upper())


def test_the_shared_statuses_carry_the_tokens_403():
    assert set(errors(AUTHENTICATED)) == {401, 403, 429}
    assert set(errors(ANY_TOKEN_READ)) == {401, 429}
    assert INSUFFICIENT_SCOPE in str(errors(403)[403].description)


def test_every_operation_a_token_can_be_refused_on_declares_403(schema):
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(schema)
        if needs_authentication(operation)
        and needed(path, method) != ()
        and "403" not in operation["responses"]
    ]

    assert missing == []


def test_the_reads_open_to_every_token_declare_no_403(schema):
    open_reads = {
        (path, method)
        for path, method, _ in operations(schema)
        if method == "get" and needed(path, method) == ()
    }
    declaring = {key for key in open_reads if "403" in schema["paths"][key[0]][key[1]]["responses"]}

    assert ("/api/v1/", "get") in open_reads
    assert ("/api/v1/users/me/", "get") in open_reads
    assert declaring == STILL_DECLARING_403


def test_each_403_of_an_operation_a_token_reaches_says_insufficient_scope(schema):
    # Where a token is offered (`personalToken` in its security), a client reading the
    # 403 learns that a missing scope is one reason.
    vague = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(schema)
        if {"personalToken": []} in operation.get("security", [])
        and "403" in operation["responses"]
        and INSUFFICIENT_SCOPE not in operation["responses"]["403"]["description"]
    ]

    assert vague == []


# The server's side of the same promise, on a read and a write of each kind of scope.
OUTSIDE_THE_SCOPE = [
    ("get", "/api/v1/tasks/", ["projects:read"]),
    ("get", "/api/v1/projects/", ["tasks:read"]),
    ("get", "/api/v1/files/", ["tasks:read"]),
    ("get", "/api/v1/webhooks/", ["tasks:read", "projects:read"]),
    ("get", "/api/v1/sync/", ["tasks:read"]),
    ("get", "/api/v1/tasks/export.csv", ["projects:read"]),
    ("get", "/api/v1/notifications/", ["projects:read"]),
    ("post", "/api/v1/tasks/", ["tasks:read"]),
    ("post", "/api/v1/users/me/calendar-feed/", ["tasks:read", "tasks:write"]),
    ("get", "/api/v1/auth/tokens/", ["tasks:read"]),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "granted"), OUTSIDE_THE_SCOPE)
def test_a_token_outside_an_operations_scopes_gets_the_declared_403(
    schema, member, client_for, method, path, granted
):
    response = getattr(pat_client(token_of(client_for, member, granted)), method)(path)

    assert_error(response, 403, "insufficient_scope")
    assert "403" in schema["paths"][path][method]["responses"]
