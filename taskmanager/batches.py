"""Deleting many rows without one long transaction."""

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet


def delete_in_batches(
    queryset: QuerySet[Any],
    batch_size: int,
    delete: Callable[[QuerySet[Any]], int] | None = None,
) -> int:
    """Delete what `queryset` matches, one primary-key range of `batch_size` rows at a
    time: each batch is a short transaction, picks up past the rows already deleted
    (no rescan of their dead tuples) and sends two small queries, not a long IN list.
    """
    total = 0
    lower = None
    while True:
        remaining = queryset.order_by("pk")
        if lower is not None:
            remaining = remaining.filter(pk__gt=lower)
        boundary = remaining.values_list("pk", flat=True)[batch_size - 1 : batch_size]
        upper = next(iter(boundary), None)  # None: fewer than a batch left
        batch = remaining if upper is None else remaining.filter(pk__lte=upper)
        with transaction.atomic():
            deleted = delete(batch) if delete else batch.order_by().delete()[0]
        total += deleted
        if upper is None:
            return total
        lower = upper
