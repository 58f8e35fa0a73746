"""The periodic cleanups of `manage.py cleanup_tokens`: each app registers what it
prunes (in its AppConfig.ready), so that the command imports none of them."""

from collections.abc import Sequence
from typing import Protocol


class Cleanup(Protocol):
    """Delete (or with `dry_run` count) what has expired, in batches of `batch_size`;
    return each count with what it counts ("sessions")."""

    def __call__(self, *, dry_run: bool, batch_size: int) -> Sequence[tuple[int, str]]: ...


_cleanups: list[Cleanup] = []


def register(cleanup: Cleanup) -> None:
    """Add a cleanup; registering the same one again changes nothing."""
    if cleanup not in _cleanups:
        _cleanups.append(cleanup)


def run_all(*, dry_run: bool, batch_size: int) -> list[tuple[int, str]]:
    """Every registered cleanup, in the order the apps registered them."""
    return [
        count for cleanup in _cleanups for count in cleanup(dry_run=dry_run, batch_size=batch_size)
    ]
