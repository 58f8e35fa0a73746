"""System check: every view's `token_scopes` (accounts.scopes) names only scopes
that exist and kinds of request that exist, so a typo fails `manage.py check` (and
the server's start) rather than refusing every token at that endpoint."""

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.checks import CheckMessage, Error
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import scopes

_KINDS = {"read", "write", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}


def token_scopes_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return token_scopes_errors(get_resolver().url_patterns)


def token_scopes_errors(patterns: list[URLPattern | URLResolver]) -> list[CheckMessage]:
    """The errors of the `token_scopes` of the views these URL patterns reach."""
    errors: list[CheckMessage] = []
    seen: set[type] = set()
    for view in _view_classes(patterns):
        if view in seen:
            continue
        seen.add(view)
        rule = getattr(view, "token_scopes", None)
        if rule is None:
            continue
        name = f"{view.__module__}.{view.__qualname__}"
        if not isinstance(rule, Mapping):
            errors.append(Error(f"{name}.token_scopes is not a mapping.", id="accounts.E001"))
            continue
        for kind, value in rule.items():
            if kind not in _KINDS:
                errors.append(
                    Error(
                        f"{name}.token_scopes names {kind!r}, no kind of request.",
                        id="accounts.E002",
                    )
                )
            try:
                scopes.normalized(value)
            except (TypeError, ValueError) as exc:
                errors.append(Error(f"{name}.token_scopes[{kind!r}]: {exc}.", id="accounts.E003"))
    return errors


def _view_classes(patterns: list[URLPattern | URLResolver]) -> Iterator[type]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _view_classes(entry.url_patterns)
        else:
            view = getattr(entry.callback, "cls", None)
            if isinstance(view, type):
                yield view
