"""The one write of the outbox: `record`, called by domain services inside their
transaction."""

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from django.db import connection, transaction

from accounts.models import User
from activity import kinds, publication
from activity.models import Event
from taskmanager.prepared import binding
from taskmanager.registry import Registry
from taskmanager.statements import RowInsert, Statement
from taskmanager.transactions import after_commit, committing_alone

# Taken for the last moments of every recording transaction on PostgreSQL (the event
# insert to the commit): event ids then commit in increasing order, so a client that
# saw event N has seen, or will be able to fetch, every event before it.
_EVENT_ORDER_LOCK = 0x7461736B

RecordHook = Callable[[Event], None]
EventTest = Callable[[Event], bool]
# Registered by the apps that derive rows from events (notifications), in their
# AppConfig.ready: each with the events it is called for, in their transaction.
_recorded: Registry[tuple[RecordHook, EventTest]] = Registry()


def on_record(hook: RecordHook, *, concerns: EventTest) -> None:
    """Have `hook(event)` called right after `record` inserts an event that
    `concerns(event)` says it may derive rows from, inside the recording transaction:
    what it writes commits or rolls back with the change. A hook that records events
    itself is called for those too, and must derive nothing from them. `concerns` is
    asked before the write too (`record_with`): an event no hook concerns may commit
    with its write alone."""
    _recorded.register((hook, concerns))


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
    the kind's "read all" permission. The `on_record` hooks run before it returns,
    or, inside `many_events()`, once the batch is inserted (the event has no id
    until then)."""
    event = _event(
        type=type,
        subject_id=subject_id,
        actor=actor,
        data=data,
        changes=changes,
        project_id=project_id,
        previous_project_id=previous_project_id,
        owner_id=owner_id,
        assignee_id=assignee_id,
        previous_assignee_id=previous_assignee_id,
    )
    batch = _batch.get()
    if batch is not None and batch.pending is not None:
        # Inserted, published and handed to the hooks with the rest of the batch.
        batch.pending.append(event)
        return event
    _insert([event], batch)
    return event


def _event(
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
    if kinds.kind_of(type) is None:
        raise ValueError(f"no event kind is registered for {type!r}")
    return Event(
        transaction_key=_transaction_key(),
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


def record_with(write: Statement, *, last: bool = False, **fields: Any) -> Event | None:
    """`record(**fields)` for the change `write` makes: an UPDATE (or INSERT) of one row
    that returns a column of it when it changes it; None, and nothing recorded, when
    it changes none (a conditional update).

    On PostgreSQL, in a transaction that holds no ordering lock yet and has no events
    waiting for their insert, the write, the lock and the event's insert are one
    statement: a round trip fewer. The write comes first (the lock's subquery reads
    its row), so that no writer holds the lock while it waits for a row
    (tests/activity/test_event_order.py).

    `last`: the caller's transaction writes nothing after it. If that transaction has
    sent nothing yet and no hook concerns the event, the statement then commits by
    itself (`committing_alone`): two round trips fewer again."""
    batch = _batch.get()
    if not _in_one_statement(batch):
        with connection.cursor() as checked, binding(checked, on_server=True) as cursor:
            cursor.execute(*write)
            if cursor.fetchone() is None:
                return None
        return record(**fields)
    event = _event(**fields)
    written = (f"WITH written(changed) AS ({write[0]})", write[1])
    return event if _written_with(event, _INSERT_WITH_WRITE, written, batch, last) else None


def can_record_drawn() -> bool:
    """Whether `record_drawn` may run here: on PostgreSQL, in a transaction that
    holds no ordering lock yet and has no events waiting for their insert."""
    return _in_one_statement(_batch.get())


def _in_one_statement(batch: "_Batch | None") -> bool:
    """Whether a write and its event may be one statement (see `record_with`)."""
    return connection.vendor == "postgresql" and not (
        batch is not None and (batch.lock_held or batch.pending)
    )


def record_drawn(
    written: Statement, *, drawn: dict[str, str], last: bool = False, **fields: Any
) -> Event | None:
    """`record_with` for a write that draws values its event names (a create's id):
    `written` is the `WITH` list that ends in `written(changed, ...) AS (<write>)`,
    `drawn` SQL for some of the event's fields over `written`'s columns (`%s` stands
    for the field's value in `fields`); the event comes back with the values drawn.
    None if the write inserted no row. Only where `can_record_drawn()`."""
    if not can_record_drawn():
        raise RuntimeError("record_drawn: not on PostgreSQL, or events are waiting")
    key = tuple(sorted(drawn.items()))
    insert = _INSERTS_DRAWN.get(key)
    if insert is None:
        insert = _INSERTS_DRAWN[key] = RowInsert(Event, _WITH_WRITE, computed=drawn)
    event = _event(**fields)
    statement = (f"WITH {written[0]}", written[1])
    return event if _written_with(event, insert, statement, _batch.get(), last) else None


def _written_with(
    event: Event, insert: RowInsert, written: Statement, batch: "_Batch | None", last: bool
) -> bool:
    """Insert `event` after `written`, in its statement; whether it was (the write
    changed a row). `last`: alone if no hook concerns the event (`record_with`)."""
    by_itself = last and not any(concerns(event) for _, concerns in _recorded)
    with committing_alone() if by_itself else nullcontext():
        if not insert.run(event, _EVENT_ORDER_LOCK, before=written):
            return False
    _inserted([event], batch)
    return True


def _transaction_key() -> int:
    """A number of the current transaction's own: a marker callback sits in the
    connection's on-commit list while the transaction lasts (Django empties the list
    at its commit or rollback), and the key goes with it."""
    current = getattr(connection, "_event_transaction", None)
    if current is not None:
        key, sign = current
        if any(entry[1] is sign for entry in connection.run_on_commit):
            return key
    key = secrets.randbits(63)

    def marker() -> None:
        """Only a sign that the transaction of `key` is still open."""

    transaction.on_commit(marker)
    connection._event_transaction = (key, marker)  # type: ignore[attr-defined]
    return key


class _Batch:
    """What the transaction's recording knows: whether it holds the ordering lock,
    and, inside `many_events()`, the events waiting for their insert (else None)."""

    def __init__(self, *, lock_held: bool, deferring: bool) -> None:
        self.lock_held = lock_held
        self.pending: list[Event] | None = [] if deferring else None


_batch: ContextVar[_Batch | None] = ContextVar("event_batch", default=None)


def _insert(events: list[Event], batch: _Batch | None) -> None:
    """Insert `events` (one statement where the database returns the new ids), have
    them published after commit, in the order of their ids, then run the hooks."""
    ordered = connection.vendor == "postgresql"
    locked = bool(batch and batch.lock_held)
    if ordered and not locked and len(events) == 1:
        # The common write: the lock and the row in one round trip.
        _insert_after_lock(events[0])
    else:
        if ordered and not locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENT_ORDER_LOCK])
        if len(events) > 1 and connection.features.can_return_rows_from_bulk_insert:
            Event.objects.bulk_create(events)
        else:
            for event in events:
                event.save(force_insert=True)
    _inserted(events, batch)


def _inserted(events: list[Event], batch: _Batch | None) -> None:
    """What follows the insert of `events`, which took the ordering lock on PostgreSQL."""
    if batch is not None and connection.vendor == "postgresql":
        batch.lock_held = True
    # Published before what the hooks record (notifications), in the order of ids.
    after_commit(lambda: publication.publish(events))
    # The ordering lock is held now: the events the hooks record need not ask for it
    # again (and, in a batch, wait for the batch's next insert).
    token = _batch.set(_Batch(lock_held=True, deferring=False)) if batch is None else None
    try:
        for event in events:
            for hook, concerns in _recorded:
                if concerns(event):
                    hook(event)
    finally:
        if token is not None:
            _batch.reset(token)


# The ordering lock, then the row, in one statement.
_INSERT_AFTER_LOCK = RowInsert(
    Event,
    "INSERT INTO {table} ({columns}) SELECT {values}"
    " FROM (SELECT pg_advisory_xact_lock(%s)) AS ordered RETURNING {pk}",
)


# `record_with`'s: after `written`, the write's statement, and only for the row it
# changed, the lock (in a subquery reading that row: taken once the write has its
# row), then the event's row.
_WITH_WRITE = (
    "INSERT INTO {table} ({columns}) SELECT {values} FROM written CROSS JOIN LATERAL"
    " (SELECT pg_advisory_xact_lock(%s) WHERE written.changed IS NOT NULL) AS ordered"
    " RETURNING {pk}"
)
_INSERT_WITH_WRITE = RowInsert(Event, _WITH_WRITE)
# `record_drawn`'s, by the fields drawn (a handful of callers).
_INSERTS_DRAWN: dict[tuple[tuple[str, str], ...], RowInsert] = {}


def _insert_after_lock(event: Event) -> None:
    """Insert `event` on PostgreSQL in one statement that takes the ordering lock
    first: the row's id is drawn in the projection above the lock's subquery, which
    PostgreSQL does not flatten (the lock is volatile), so only once the lock is held
    (tests/activity/test_event_order.py)."""
    _INSERT_AFTER_LOCK.run(event, _EVENT_ORDER_LOCK)


@contextmanager
def many_events() -> Iterator[None]:
    """Around the part of a transaction that records many events (a bulk change):
    they are inserted together when it ends (their hooks run then), and the ordering
    lock is asked for once. Only inside `transaction.atomic()`, and left by an
    exception, nothing of it is recorded: the transaction is rolling back."""
    if not connection.in_atomic_block:
        raise RuntimeError("many_events() needs a transaction")
    outer = _batch.get()
    if outer is not None and outer.pending is not None:
        yield  # already inside one: its end inserts these too
        return
    batch = _Batch(lock_held=bool(outer and outer.lock_held), deferring=True)
    token = _batch.set(batch)
    try:
        yield
        # The hooks' own events (notifications) come after the batch's.
        while batch.pending:
            events, batch.pending = batch.pending, []
            _insert(events, batch)
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
