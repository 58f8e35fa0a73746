"""One page of `/sync/` (docs/sync.md): a snapshot's, or the changes after a cursor.

A page holds at most PAGE_CHANGES changes, one per object (its latest), and ends
between two transactions of the outbox, never inside one: a transaction that alone
changes more objects comes whole, in a page of its own. What a user may see is
decided as the page is read: an object they see now is an `upsert` of its current
state, any other a `delete`.
"""

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from activity.models import Event
from sync import selectors
from sync.cursors import Cursor, decode
from sync.errors import CursorExpiredError
from sync.selectors import EventRow

PAGE_CHANGES = 500
# Events read per query, and at most read per page (past a transaction's end): many
# events of few objects (one task changed a thousand times) still make a page of
# bounded cost, which ends early with `has_more`.
EVENTS_PER_READ = 1000
EVENTS_PER_PAGE = 5000

ROLE_CHANGED = (
    "What you may read changed with your role since this cursor was given: start "
    "again without a cursor."
)

Change = dict[str, Any]
Key = tuple[str, int]


@dataclass(frozen=True)
class Page:
    changes: list[Change]
    cursor: Cursor
    has_more: bool


def sync_page(user: User, text: str | None) -> Page:
    """The page after the cursor `text`, or the first of a snapshot without one.
    InvalidCursorError for a cursor not made for this user, CursorExpiredError for
    one whose events were pruned or whose user's site role changed what they read."""
    reads_all = selectors.reads_all(user)
    if text is None:
        # The outbox's position first: whatever changes while the snapshot is paged
        # comes after it, as changes.
        start = Cursor(user_id=user.pk, reads_all=reads_all, position=selectors.head(), stage=0)
        return _snapshot_page(user, start)
    cursor = decode(text, user_id=user.pk)
    if cursor.reads_all != reads_all:
        raise CursorExpiredError(ROLE_CHANGED)
    # Pruned events after the cursor were missed; a snapshot of what events made
    # visible also reads those events again.
    since = cursor.position if cursor.since is None else cursor.since
    oldest = selectors.oldest()
    if oldest is not None and oldest > since + 1:
        raise CursorExpiredError()
    if cursor.in_snapshot:
        return _snapshot_page(user, cursor)
    return _changes_page(user, cursor)


def _snapshot_page(user: User, cursor: Cursor) -> Page:
    """The next objects of a snapshot, stage after stage (projects, labels, tasks,
    comments), each by id; of everything the user sees, or (`cursor.since`) of what
    the events in (since, position] made visible."""
    scope = (
        selectors.EVERYTHING
        if cursor.since is None
        else selectors.opening_events(user, after=cursor.since, upto=cursor.position)
    )
    changes: list[Change] = []
    stage, after = cursor.stage or 0, cursor.after
    room = PAGE_CHANGES
    while stage < len(selectors.STAGES):
        kind = selectors.STAGES[stage]
        # One more than there is room for: whether the stage goes on.
        rows = selectors.snapshot_rows(kind, user, scope, after=after, limit=room + 1)
        taken = rows[:room]
        changes.extend(_upsert(kind.name, pk, data) for pk, data in taken)
        if len(rows) > room:
            after = taken[-1][0] if taken else after
            return Page(changes, replace(cursor, stage=stage, after=after), has_more=True)
        room -= len(taken)
        stage, after = stage + 1, 0
    done = replace(cursor, stage=None, after=0, since=None)
    more = selectors.changed_events(user, after=cursor.position).exists()
    return Page(changes, done, has_more=more)


def _changes_page(user: User, cursor: Cursor) -> Page:
    """The objects changed by the events after the cursor, whole transactions at a
    time, as they are now."""
    top = selectors.head()
    if top <= cursor.position:
        return Page([], cursor, has_more=False)
    # Each object once, in the order of its latest event.
    latest: dict[Key, int] = {}
    opening: set[Key] = set()
    scanned = 0
    end = cursor.position
    more = False
    for group in _transactions(selectors.changed_events(user, after=cursor.position, upto=top)):
        keys = {_key(event) for event in group}
        fresh = len(keys - latest.keys())
        if latest and (len(latest) + fresh > PAGE_CHANGES or scanned >= EVENTS_PER_PAGE):
            more = True
            break
        for event in group:
            key = _key(event)
            latest.pop(key, None)
            latest[key] = event.id
            if selectors.opens(event, user.pk):
                opening.add(key)
        scanned += len(group)
        end = group[-1].id
    else:
        # Every event up to `top` the user may read is in the page: none after it
        # was committed when `top` was read, so the client has them all.
        end = top
    found = selectors.states(user, latest)
    changes = [
        _upsert(name, pk, found[(name, pk)]) if (name, pk) in found else _delete(name, pk)
        for name, pk in latest
    ]
    if any(key in found for key in opening):
        # What those events made visible comes next, before the changes after `end`.
        sub = Cursor(
            user_id=user.pk,
            reads_all=cursor.reads_all,
            position=end,
            stage=0,
            since=cursor.position,
        )
        return Page(changes, sub, has_more=True)
    return Page(changes, replace(cursor, position=end), has_more=more)


def _transactions(events: QuerySet[Event]) -> Iterator[list[EventRow]]:
    """The events in order, in lists of one transaction each (consecutive ids share
    its `transaction_key`; an event without one is alone), read EVENTS_PER_READ at a
    time as the caller goes on."""
    rows = events.values_list(*selectors.EVENT_ROW)
    group: list[EventRow] = []
    last: int | None = None
    while True:
        chunk = [
            EventRow(*row)
            for row in (rows if last is None else rows.filter(id__gt=last))[:EVENTS_PER_READ]
        ]
        for event in chunk:
            if group and (
                event.transaction_key is None or event.transaction_key != group[-1].transaction_key
            ):
                yield group
                group = []
            group.append(event)
        if len(chunk) < EVENTS_PER_READ:
            if group:
                yield group
            return
        last = chunk[-1].id


def _key(event: EventRow) -> Key:
    return (event.type.partition(".")[0], event.subject_id)


def _upsert(name: str, pk: int, data: dict[str, Any]) -> Change:
    return {"type": name, "id": pk, "op": "upsert", "data": data}


def _delete(name: str, pk: int) -> Change:
    return {"type": name, "id": pk, "op": "delete", "data": None}
