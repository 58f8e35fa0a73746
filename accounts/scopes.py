"""What a personal API token may do: its scopes, and the scopes each endpoint needs.

A request made with a personal token is checked against the scopes of its view,
found in this order:

1. the view's own `token_scopes`: `{"read": ..., "write": ...}` (safe methods read,
   the others write; an HTTP method's name, e.g. `"POST"`, overrides either), each
   a scope, a tuple of scopes (all needed; `()`: any token) or None (no token);
2. else `APP_SCOPES`, by the app the view's class lives in (its module's root);
3. else the view is public (its only permission is AllowAny: the API root, the
   schema): any token, which adds nothing there;
4. else no token at all: accounts (tokens, sessions, the password, the email, users)
   and whatever an app does not declare. A new endpoint is closed to tokens until
   it says otherwise.

Requests not made with a personal token are not concerned. The check runs where the
token is authenticated (accounts.authentication), so a view's own
`permission_classes` cannot skip it.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import models
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, AllowAny


class TokenScope(models.TextChoices):
    TASKS_READ = "tasks:read", "Read tasks, their comments and your notifications"
    TASKS_WRITE = "tasks:write", "Create, change and delete tasks, comments, notifications"
    PROJECTS_READ = "projects:read", "Read projects, their members and labels"
    PROJECTS_WRITE = "projects:write", "Create, change and delete projects, members, labels"
    FILES_READ = "files:read", "List and download files"
    FILES_WRITE = "files:write", "Upload and delete files"
    WEBHOOKS_MANAGE = "webhooks:manage", "Create, list, change and delete webhooks"


ALL_SCOPES: tuple[str, ...] = tuple(TokenScope.values)

# What a view's (or an app's) rule says for a kind of request: the scopes it needs
# (all of them), () for any token, None for no token.
Needed = tuple[str, ...] | None
Rule = Mapping[str, str | Sequence[str] | None]

_TASKS: Rule = {"read": TokenScope.TASKS_READ, "write": TokenScope.TASKS_WRITE}
_PROJECTS: Rule = {"read": TokenScope.PROJECTS_READ, "write": TokenScope.PROJECTS_WRITE}
_FILES: Rule = {"read": TokenScope.FILES_READ, "write": TokenScope.FILES_WRITE}
_WEBHOOKS: Rule = {"read": TokenScope.WEBHOOKS_MANAGE, "write": TokenScope.WEBHOOKS_MANAGE}
# An export only reads tasks, whatever method starts it.
_EXPORTS: Rule = {"read": TokenScope.TASKS_READ, "write": TokenScope.TASKS_READ}
# /sync/ hands out tasks and projects alike.
_SYNC_NEEDS = (TokenScope.TASKS_READ, TokenScope.PROJECTS_READ)
_SYNC: Rule = {"read": _SYNC_NEEDS, "write": _SYNC_NEEDS}

# By the root of the view's module ("tasks" for tasks.views.TaskViewSet). Names, not
# imports: accounts imports no app above it.
APP_SCOPES: dict[str, Rule] = {
    "tasks": _TASKS,
    "comments": _TASKS,
    "notifications": _TASKS,
    "projects": _PROJECTS,
    "files": _FILES,
    "webhooks": _WEBHOOKS,
    "exports": _EXPORTS,
    "sync": _SYNC,
}

# What /ws/tasks/ needs: it carries the events of tasks and projects alike, as /sync/.
SOCKET_SCOPES: tuple[str, ...] = _SYNC_NEEDS

NOT_FOR_PATS = (
    "A personal API token cannot be used here: tokens, sessions, the password and the"
    " email are managed with a login session (/api/v1/auth/login/)."
)


class InsufficientScope(PermissionDenied):
    """403 `insufficient_scope`, with RFC 6750's challenge naming the scopes needed."""

    default_code = "insufficient_scope"

    def __init__(self, needed: Needed, granted: frozenset[str] = frozenset()) -> None:
        if needed is None:
            message, scope = NOT_FOR_PATS, ""
        else:
            missing = [name for name in needed if name not in granted]
            many = len(missing) > 1
            message = (
                f"This token lacks the scope{'s' if many else ''} {' and '.join(missing)}"
                f" this request needs: create a token with {'them' if many else 'it'}"
                " (/api/v1/auth/tokens/)."
            )
            scope = f', scope="{" ".join(needed)}"'
        super().__init__(message, code="insufficient_scope")
        # Sent as WWW-Authenticate by the exception handler, as DRF's 401s are.
        self.auth_header = f'Bearer realm="api", error="insufficient_scope"{scope}'


def needed_scopes(view: Any, method: str) -> Needed:
    """The scopes a token needs for `method` on `view` (see the module's docstring)."""
    rule = getattr(view, "token_scopes", None)
    if rule is None:
        rule = APP_SCOPES.get(type(view).__module__.partition(".")[0])
    if rule is None:
        return () if _is_public(view) else None
    kind = "read" if method in SAFE_METHODS else "write"
    return normalized(rule.get(method, rule.get(kind)))


def normalized(value: str | Sequence[str] | None) -> Needed:
    """A rule's value as the scopes it needs; ValueError for a name no scope has."""
    if value is None:
        return None
    needed = (value,) if isinstance(value, str) else tuple(value)
    unknown = [name for name in needed if name not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown token scopes: {', '.join(map(str, unknown))}")
    return tuple(str(name) for name in needed)


def check(granted: frozenset[str], needed: Needed) -> None:
    """InsufficientScope unless `granted` holds every scope `needed`."""
    if needed is None or not granted.issuperset(needed):
        raise InsufficientScope(needed, granted)


def _is_public(view: Any) -> bool:
    get_permissions = getattr(view, "get_permissions", None)
    if get_permissions is None:
        return False
    permissions = list(get_permissions())
    return bool(permissions) and all(isinstance(p, AllowAny) for p in permissions)
