"""API9:2023 Improper Inventory Management.

Every route of the URL conf is in the OpenAPI schema or in the commented list of
deliberate exclusions below, and the schema names no route that does not exist;
every method a route answers is documented (the others are 405); the WebSocket
routes are in the AsyncAPI document; old or unversioned API paths do not exist;
and production (DEBUG off) serves no debug-only route.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver

from realtime.routing import websocket_urlpatterns
from taskmanager.settings import BASE_DIR
from tests.security.helpers import HTTP_METHODS, fill, openapi_schema

# Routes that are deliberately not part of the API schema, and why.
EXCLUDED_PREFIXES = {
    # The Django admin: operators only (staff), HTML, its own login and CSRF.
    "/admin/": "Django admin",
}
EXCLUDED = {
    # The API's own documents: the schema and the two pages that render it.
    "/api/schema/": "OpenAPI document",
    "/api/docs/": "Swagger UI",
    "/api/redoc/": "ReDoc",
    # The WebSocket's messages, described in AsyncAPI (tests/realtime/test_asyncapi.py).
    "/api/asyncapi/": "AsyncAPI document",
    # HTML page following your tasks live, behind a session login.
    "/live/": "live page",
    # The landing page, and people's session login, logout and registration (HTML).
    "/": "landing page",
    "/login/": "login page",
    "/logout/": "logout page",
    "/logged-out/": "logged-out page",
    "/register/": "registration page",
    # Operations: liveness, readiness and Prometheus metrics (tests/monitoring/).
    "/monitoring/health/": "liveness",
    "/monitoring/ready/": "readiness",
    "/monitoring/metrics/": "metrics",
    # The background worker's readiness (tests/webhooks/).
    "/monitoring/ready/worker/": "worker readiness",
    # A calendar feed, for calendar applications that send no header: the secret in
    # the address is the credential (tests/exports/).
    "/calendar/{p}.ics": "calendar feed",
}

# Views that only a development setup may route.
DEBUG_ONLY_MODULES = (
    "django.views.static",
    "django.views.debug",
    "django.contrib.staticfiles.views",
    "debug_toolbar",
    "silk",
    "django_extensions",
)


def _normalise(pattern: str) -> str:
    """A route as the schema writes it: `/tasks/{p}/` for `^tasks/(?P<pk>\\d+)/$`."""
    pattern = pattern.replace("^", "").replace("$", "")
    pattern = re.sub(r"\(\?P<\w+>[^)]*\)", "{p}", pattern)
    pattern = re.sub(r"<(?:\w+:)?\w+>", "{p}", pattern)
    return "/" + pattern


def routes(patterns: list[Any] | None = None, prefix: str = "") -> list[tuple[str, Any]]:
    """(normalised route, view callback) for every pattern of the URL conf."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            found += routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append((_normalise(prefix + str(entry.pattern)), entry.callback))
    return found


def schema_paths() -> set[str]:
    return {re.sub(r"\{[^}]+\}", "{p}", path) for path in openapi_schema()["paths"]}


def excluded(route: str) -> bool:
    return route in EXCLUDED or route.startswith(tuple(EXCLUDED_PREFIXES))


def test_every_route_is_in_the_schema_or_deliberately_excluded():
    undocumented = sorted(
        {route for route, _ in routes() if route not in schema_paths() and not excluded(route)}
    )

    assert undocumented == [], "add to the schema or to EXCLUDED with a reason"


def test_the_schema_names_only_routes_that_exist():
    existing = {route for route, _ in routes()}

    assert schema_paths() - existing == set()


def test_every_exclusion_is_still_a_route():
    existing = {route for route, _ in routes()}

    assert set(EXCLUDED) - existing == set()
    for prefix in EXCLUDED_PREFIXES:
        assert any(route.startswith(prefix) for route in existing), prefix


def test_no_excluded_route_serves_api_data_under_the_api_prefix():
    # Nothing under /api/v1/ hides from the schema.
    hidden = [route for route, _ in routes() if route.startswith("/api/v1/") and excluded(route)]

    assert hidden == []


@pytest.mark.parametrize("path", sorted(openapi_schema()["paths"]))
def test_methods_the_schema_does_not_list_are_not_allowed(path, admin_client, admin):
    documented = set(openapi_schema()["paths"][path]) & set(HTTP_METHODS)
    url = fill(path, admin.pk if "users" in path else 1)

    for method in sorted(set(HTTP_METHODS) - documented):
        response = getattr(admin_client, method)(url)
        assert response.status_code == 405, (method, url, response.status_code)
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_websocket_routes_are_in_the_asyncapi_document():
    document = yaml.safe_load((Path(BASE_DIR) / "docs" / "asyncapi.yaml").read_text())
    addresses = {channel.get("address", "").strip("/") for channel in document["channels"].values()}

    for route in websocket_urlpatterns:
        assert str(route.pattern).strip("/") in addresses


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks/",
        "/api/v0/tasks/",
        "/api/v2/tasks/",
        "/api/v1.0/tasks/",
        "/tasks/",
        "/v1/tasks/",
    ],
)
def test_no_unversioned_or_other_version_of_the_api_answers(path, member_client):
    response = member_client.get(path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_no_route_of_this_process_is_a_debug_view():
    debug_views = [
        route
        for route, callback in routes()
        if getattr(callback, "__module__", "").startswith(DEBUG_ONLY_MODULES)
    ]

    assert debug_views == []


_LIST_ROUTES = """
import json, django
django.setup()
from django.conf import settings
from tests.security.test_api09_inventory import routes
print(json.dumps({
    "debug": settings.DEBUG,
    "routes": sorted({r: getattr(c, "__module__", "") for r, c in routes()}.items()),
}))
"""


def production_routes(tmp_path: Path) -> dict[str, Any]:
    import json

    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "REDIS_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "taskmanager.settings", "VAR_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "-c", _LIST_ROUTES],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_serves_no_debug_only_route(tmp_path):
    production = production_routes(tmp_path)

    assert production["debug"] is False
    debug_views = [r for r, module in production["routes"] if module.startswith(DEBUG_ONLY_MODULES)]
    assert debug_views == []
    # And it is the inventory checked above.
    assert {r for r, _ in production["routes"]} == {r for r, _ in routes()}
