"""The OpenAPI schema, generated once, is how the security modules enumerate
endpoints instead of hand-picking a few."""

import re
from functools import cache
from typing import Any

from drf_spectacular.generators import SchemaGenerator

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
