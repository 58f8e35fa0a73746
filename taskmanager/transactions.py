from collections.abc import Callable

from django.db import transaction


def after_commit(effect: Callable[[], None]) -> None:
    """Run a side effect (cache update, channel send, file removal) once the current
    transaction commits, and never for one that rolls back.

    `robust`: a failing effect is logged by Django and does not break the request
    whose data is already committed.
    """
    transaction.on_commit(effect, robust=True)
