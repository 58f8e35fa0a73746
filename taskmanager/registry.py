"""Callables that apps above register with an app below (in AppConfig.ready), so that
the lower app calls them without importing their app (docs/architecture.md)."""

from collections.abc import Iterator
from typing import Generic, TypeVar

F = TypeVar("F")


class Registry(Generic[F]):
    """Registered callables in order; registering the same one again changes nothing."""

    def __init__(self) -> None:
        self._registered: list[F] = []

    def register(self, item: F) -> None:
        if item not in self._registered:
            self._registered.append(item)

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._registered))
