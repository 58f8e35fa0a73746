"""The import graph of docs/architecture.md holds: apps import each other one way
only, delivery (Channels) stays in realtime/, and taskmanager's plumbing imports no
app (only its wiring modules do)."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = [
    "taskmanager",
    "accounts",
    "activity",
    "projects",
    "tasks",
    "comments",
    "notifications",
    "files",
    "realtime",
    "monitoring",
    "webhooks",
    "sync",
    "exports",
]
# taskmanager's wiring: the modules that put the apps together (and so import them).
WIRING = {"taskmanager/urls.py", "taskmanager/asgi.py", "taskmanager/wsgi.py"}
# Each app and the apps it may import (docs/architecture.md, "Import graph").
ALLOWED = {
    "taskmanager": set(),
    "accounts": {"taskmanager"},
    "monitoring": {"taskmanager"},
    "activity": {"taskmanager", "accounts"},
    "projects": {"taskmanager", "accounts", "activity"},
    "tasks": {"taskmanager", "accounts", "activity", "projects"},
    "comments": {"taskmanager", "accounts", "activity", "projects", "tasks"},
    "notifications": {"taskmanager", "accounts", "activity", "projects", "tasks", "comments"},
    "files": {"taskmanager", "accounts", "tasks"},
    "realtime": {"taskmanager", "accounts", "activity", "monitoring"},
    "webhooks": {"taskmanager", "accounts", "activity", "projects", "monitoring"},
    "sync": {"taskmanager", "accounts", "activity", "projects", "tasks", "comments"},
    "exports": {"taskmanager", "accounts", "projects", "tasks"},
}


def modules(app: str) -> Iterator[Path]:
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def imported(path: Path) -> set[str]:
    """Top-level package names the module imports, wherever the import stands."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def app_imports(app: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in modules(app):
        relative = path.relative_to(ROOT).as_posix()
        if relative in WIRING:
            continue
        others = (imported(path) & set(APPS)) - {app}
        if others:
            found[relative] = others
    return found


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_apps_below_it(app):
    refused = {
        module: sorted(others - ALLOWED[app])
        for module, others in app_imports(app).items()
        if others - ALLOWED[app]
    }

    assert refused == {}


def test_the_allowed_imports_have_no_circle():
    # Depth-first: a grey node met again is a circle.
    state: dict[str, str] = {}

    def visit(app: str, path: list[str]) -> None:
        state[app] = "grey"
        for other in ALLOWED[app]:
            assert state.get(other) != "grey", " -> ".join([*path, app, other])
            if other not in state:
                visit(other, [*path, app])
        state[app] = "black"

    for app in APPS:
        if app not in state:
            visit(app, [])


@pytest.mark.parametrize(
    "app", ["taskmanager", "accounts", "activity", "tasks", "comments", "notifications", "files"]
)
def test_only_realtime_imports_channels(app):
    users = [
        path.relative_to(ROOT).as_posix()
        for path in modules(app)
        if imported(path) & {"channels", "channels_redis", "daphne"}
        and path.relative_to(ROOT).as_posix() not in WIRING
    ]

    assert users == []
