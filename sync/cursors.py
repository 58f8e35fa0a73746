"""The opaque cursor of `/sync/`: where a client is in the outbox (and in a snapshot),
signed so that it can be neither forged nor changed, and bound to its user."""

import re
import zlib
from dataclasses import dataclass
from typing import Any

from django.core import signing

from sync.errors import InvalidCursorError

SALT = "sync.cursor"
VERSION = 1
# What `signing.dumps` writes (URL-safe base64, `:` between its parts, a leading `.`
# when compressed); a cursor is some 60 to 100 characters.
MAX_LENGTH = 512
PATTERN = r"^[-A-Za-z0-9_.:]+$"
_PATTERN = re.compile(PATTERN)

NOT_OURS = "This cursor was not given by this server, or it was changed."
NOT_YOURS = "This cursor was given to another user."


@dataclass(frozen=True)
class Cursor:
    user_id: int
    # Which kinds the user read all of (sync.selectors.reads_all) when the cursor was
    # made: a snapshot holds what they could read then, so a change of site role
    # expires the cursor.
    reads_all: int
    # The last event whose change the client has, or will have once the snapshot in
    # progress is done.
    position: int
    # In a snapshot: its stage (sync.selectors.STAGES) and the last id sent in it;
    # None between snapshots.
    stage: int | None = None
    after: int = 0
    # A snapshot of what the events in (since, position] made visible (a project
    # joined, a task moved in); None for a snapshot of everything.
    since: int | None = None

    @property
    def in_snapshot(self) -> bool:
        return self.stage is not None


def encode(cursor: Cursor) -> str:
    payload: dict[str, Any] = {
        "v": VERSION,
        "u": cursor.user_id,
        "r": cursor.reads_all,
        "p": cursor.position,
    }
    if cursor.stage is not None:
        payload["s"] = [cursor.stage, cursor.after]
    if cursor.since is not None:
        payload["f"] = cursor.since
    return signing.dumps(payload, salt=SALT, compress=True)


def decode(text: str, *, user_id: int) -> Cursor:
    """The cursor `text` stands for; InvalidCursorError unless this server made it
    for this user."""
    if len(text) > MAX_LENGTH or not _PATTERN.match(text):
        raise InvalidCursorError(NOT_OURS)
    try:
        payload = signing.loads(text, salt=SALT)
    except (signing.BadSignature, ValueError, zlib.error) as exc:
        raise InvalidCursorError(NOT_OURS) from exc
    cursor = _from_payload(payload)
    if cursor is None:
        raise InvalidCursorError(NOT_OURS)
    if cursor.user_id != user_id:
        raise InvalidCursorError(NOT_YOURS)
    return cursor


def _from_payload(payload: Any) -> Cursor | None:
    """The cursor of a signed payload, or None if it is not one (another version)."""
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        return None
    user_id, reads_all, position = (_natural(payload.get(key)) for key in ("u", "r", "p"))
    stage = payload.get("s", [None, 0])
    if not isinstance(stage, list) or len(stage) != 2:
        return None
    step, after = _natural(stage[0]), _natural(stage[1])
    since = _natural(payload.get("f"))
    if user_id is None or reads_all is None or position is None or after is None:
        return None
    if (step is None and stage[0] is not None) or (since is None and "f" in payload):
        return None
    return Cursor(
        user_id=user_id,
        reads_all=reads_all,
        position=position,
        stage=step,
        after=after,
        since=since,
    )


def _natural(value: Any) -> int | None:
    """The value if it is a whole number from 0 (not a boolean), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
