import inspect

import pytest
from django.urls import get_resolver
from openapi_spec_validator import validate

from accounts.views import TokenView

PROJECT_PACKAGES = {"accounts", "files", "monitoring", "taskmanager", "tasks"}


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    validate(schema)  # raises on any violation of the OpenAPI 3 specification

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Taskmanager API"


def test_schema_is_served_without_authentication(client):
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_documentation_pages_render_without_a_cdn(client, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html
    assert "cdn.jsdelivr.net" not in html  # assets come from drf-spectacular-sidecar


def test_schema_offers_bearer_tokens_and_the_oauth2_password_flow(schema):
    schemes = schema["components"]["securitySchemes"]

    assert schemes["jwtAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    password_flow = schemes["oauth2"]["flows"]["password"]
    assert password_flow["tokenUrl"] == "/api/v1/auth/token/"
    me = schema["paths"]["/api/v1/users/me/"]["get"]
    assert {"jwtAuth": []} in me["security"]
    assert {"oauth2": []} in me["security"]


def test_token_endpoint_is_documented_as_a_form(schema):
    token = schema["paths"]["/api/v1/auth/token/"]["post"]

    assert list(token["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]


def _operations(schema: dict) -> list[tuple[str, dict]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def test_every_operation_has_a_summary(schema):
    missing = [label for label, operation in _operations(schema) if not operation.get("summary")]

    assert missing == []


def _api_view_classes() -> set[type]:
    found: set[type] = set()

    def walk(patterns) -> None:
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
                continue
            view = getattr(pattern.callback, "cls", None)  # DRF's views only
            if view is not None:
                found.add(view)

    walk(get_resolver().url_patterns)
    return found


def test_no_description_is_a_base_class_docstring(schema):
    """A mixin's or base class's docstring is for readers of the code: drf-spectacular
    used to make it the description of every operation of the views below it."""
    inherited = {
        inspect.cleandoc(base.__doc__)
        for view in _api_view_classes()
        for base in view.__mro__[1:]
        if base.__doc__ and base.__module__.split(".")[0] in PROJECT_PACKAGES
    }
    assert inherited  # the views do have documented project bases (mixins)

    leaked = [
        label
        for label, operation in _operations(schema)
        if operation.get("description") in inherited
    ]
    assert leaked == []


def test_a_views_own_docstring_still_describes_its_operations(schema):
    token = schema["paths"]["/api/v1/auth/token/"]["post"]

    assert token["description"] == inspect.cleandoc(TokenView.__doc__ or "")


@pytest.mark.parametrize(
    ("path", "name"), [("/api/v1/tasks/", "assignee"), ("/api/v1/files/", "task")]
)
def test_id_filters_are_documented_as_whole_numbers(schema, path, name):
    # They refuse 2.7 (taskmanager.filters.IdFilter); "number" said otherwise.
    (parameter,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]

    assert parameter["schema"] == {"type": "integer", "format": "int64"}
