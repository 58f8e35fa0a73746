from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg.pq import TransactionStatus


def after_commit(effect: Callable[[], None]) -> None:
    """Run a side effect (cache update, channel send, file removal) once the current
    transaction commits, and never for one that rolls back.

    `robust`: a failing effect is logged by Django and does not break the request
    whose data is already committed.
    """
    transaction.on_commit(effect, robust=True)


@contextmanager
def committing_alone(using: str = DEFAULT_DB_ALIAS) -> Iterator[bool]:
    """Around the one statement that writes in an outermost `transaction.atomic()`
    block, when the block has sent nothing before it and writes nothing after it: on
    PostgreSQL the statement is sent without `BEGIN` and commits by itself, and the
    block's commit sends nothing (psycopg commits only a transaction it began). Two
    round trips fewer; Django still runs the block's on-commit effects at its end.

    Yields whether it does. Otherwise (another database, a nested block, a block that
    has sent a statement) the statement is part of the block's transaction as usual.
    A statement that changes no row leaves the block free to go on: what it sends
    next begins its transaction."""
    connection = connections[using]
    raw = connection.connection
    if (
        connection.vendor != "postgresql"
        or len(connection.atomic_blocks) != 1
        or connection.needs_rollback
        or raw is None
        or raw.info.transaction_status != TransactionStatus.IDLE
    ):
        yield False
        return
    raw.autocommit = True
    try:
        yield True
    finally:
        if raw.info.transaction_status == TransactionStatus.IDLE:
            raw.autocommit = False
        else:
            # The connection broke: nothing more may run in the block.
            connection.needs_rollback = True
