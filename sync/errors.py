"""The errors of sync: a cursor refused (400) and a cursor too old to go on (410)."""

from taskmanager.exceptions import DomainValidationError, GoneError


class InvalidCursorError(DomainValidationError):
    """A cursor this server did not give to this user, or one that was changed."""

    code = "invalid_cursor"
    message = "The cursor is not valid: send one this server gave you, or none to start again."

    def __init__(self, reason: str) -> None:
        super().__init__(fields={"cursor": [reason]})


class CursorExpiredError(GoneError):
    """What the cursor stands on is gone (events after it were pruned, or what the user
    may read changed with their site role): only a new snapshot helps."""

    code = "cursor_expired"
    message = "The cursor is too old to go on from: start again without a cursor."
