"""The one write of the outbox: `record`, called by domain services inside their
transaction."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connection

from accounts.models import User
from activity import kinds, publication
from activity.models import Event
from taskmanager.registry import Registry
from taskmanager.transactions import after_commit

# Taken for the last moments of every recording transaction on PostgreSQL (the event
# insert to the commit): event ids then commit in increasing order, so a client that
# saw event N has seen, or will be able to fetch, every event before it.
_EVENT_ORDER_LOCK = 0x7461736B

RecordHook = Callable[[Event], None]
# Registered by the apps that derive rows from events (notifications), in their
# AppConfig.ready: each is called with every event just inserted, in its transaction.
_recorded: Registry[RecordHook] = Registry()
# `hook(event)` right after `record` inserts an event, inside the recording
# transaction: what it writes commits or rolls back with the change. A hook that
# records events itself is called for those too, and must derive nothing from them.
on_record = _recorded.register


def record(
    *,
    type: str,
    subject_id: int,
    actor: User | None,
    data: dict[str, Any],
    changes: dict[str, list[Any]],
    project_id: int | None = None,
    previous_project_id: int | None = None,
    owner_id: int | None = None,
    assignee_id: int | None = None,
    previous_assignee_id: int | None = None,
) -> Event:
    """Write the event of one change in the caller's transaction; it is published
    (activity.publication) once that commits. `type` must be of a registered kind
    (activity.kinds); the project ids and the user ids say who may read it besides
    the kind's "read all" permission. The `on_record` hooks run before it returns."""
    if kinds.kind_of(type) is None:
        raise ValueError(f"no event kind is registered for {type!r}")
    batch = _batch.get()
    if connection.vendor == "postgresql" and not (batch and batch[0]):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENT_ORDER_LOCK])
        if batch is not None:
            batch[0] = True
    event = Event.objects.create(
        type=type,
        subject_id=subject_id,
        # The user itself, not its id: hooks read `event.actor` without a query.
        actor=actor,
        data=data,
        changes=changes,
        project_id=project_id,
        previous_project_id=previous_project_id,
        owner_id=owner_id,
        assignee_id=assignee_id,
        previous_assignee_id=previous_assignee_id,
    )
    # Published before what the hooks record (a notification), in the order of ids.
    after_commit(lambda: publication.publish(event))
    # The ordering lock is held now: the events the hooks record (notifications) need
    # not ask for it again.
    token = _batch.set([True]) if batch is None else None
    try:
        for hook in _recorded:
            hook(event)
    finally:
        if token is not None:
            _batch.reset(token)
    return event


# Inside `many_events()`: whether this transaction holds the ordering lock already.
_batch: ContextVar[list[bool] | None] = ContextVar("event_batch", default=None)


@contextmanager
def many_events() -> Iterator[None]:
    """Around the part of a transaction that records many events (a bulk change): the
    ordering lock, held until the commit once taken, is asked for once rather than
    once an event. Only inside `transaction.atomic()`: the lock is the transaction's."""
    if not connection.in_atomic_block:
        raise RuntimeError("many_events() needs a transaction")
    token = _batch.set([False])
    try:
        yield
    finally:
        _batch.reset(token)


def changes_between(
    before: dict[str, Any] | None, after: dict[str, Any] | None, fields: Iterable[str]
) -> dict[str, list[Any]]:
    """An event's `changes`: each of `fields` whose value differs, as [old, new]
    (None on the side that is missing: a creation, a deletion)."""
    old, new = before or {}, after or {}
    return {
        field: [old.get(field), new.get(field)]
        for field in fields
        if old.get(field) != new.get(field)
    }
