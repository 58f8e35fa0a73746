"""Django's PostgreSQL backend, but a pooled connection is checked by a look at its
socket, not by a query, when it was back in the pool only a moment.

A restart or `pg_terminate_backend` kills the pool's idle connections, and nothing
tells the pool until one is used. psycopg_pool's `check` (Django's
`CONN_HEALTH_CHECKS`) finds them with an empty query as each leaves the pool: a round
trip on every request, some 160 µs of the worker's and PostgreSQL's CPU here, one of
an uncached list page's two round trips (bench/RESULTS.md, "The writes, fifth
pass"). A server that ends a connection closes its socket, after a FATAL message;
the socket turns readable, and a zero-timeout poll sees that without a round trip.
Where the poll cannot tell, the empty query still asks: a connection unused for
`QUIET_SECONDS` (its server may have gone without a word: a host that restarted) and
one this process has not used yet. docs/decisions/database-connections.md.

The on-commit hooks of a transaction run inside `redis_effects.gathered()`: the Redis
scripts they call go in one round trip once they have all run.
"""

import select
import time
import weakref
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool, PoolTimeout

from taskmanager import redis_effects

# A connection idle this long is checked with a query as it leaves the pool.
QUIET_SECONDS = 2.0

# When each pooled connection was last given back, by this process.
_returned_at: "weakref.WeakKeyDictionary[psycopg.Connection[Any], float]" = (
    weakref.WeakKeyDictionary()
)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        pool: ConnectionPool | None = self.pool  # type: ignore[attr-defined]  # not in the stubs
        if pool is None:
            return connection  # a new connection per request: nothing to check
        # Each dead one drawn is closed and given back (the pool opens another in its
        # place), until the pool's own timeout.
        deadline = time.monotonic() + pool.timeout
        while not _alive(connection):
            connection.close()
            pool.putconn(connection)
            if time.monotonic() > deadline:
                raise PoolTimeout(f"no working connection within {pool.timeout:g} s")
            connection = super().get_new_connection(conn_params)
        return connection

    def run_and_clear_commit_hooks(self) -> None:
        # A write's effects on Redis (counters, sockets) in one round trip at the end.
        with redis_effects.gathered():
            super().run_and_clear_commit_hooks()

    def _close(self) -> None:
        if self.connection is not None:
            _returned_at[self.connection] = time.monotonic()
        super()._close()  # type: ignore[misc]  # not in the stubs


def _alive(connection: "psycopg.Connection[Any]") -> bool:
    """Whether `connection` works: by a poll of its socket when this process gave it
    back less than QUIET_SECONDS ago, else by an empty query."""
    returned = _returned_at.get(connection)
    if returned is not None and time.monotonic() - returned < QUIET_SECONDS:
        # poll(), not select(): a socket process holding thousands of sockets gives
        # its connections descriptors past select()'s limit of 1,024.
        poller = select.poll()
        try:
            poller.register(connection.fileno(), select.POLLIN)
            readable = poller.poll(0)
        except (OSError, ValueError, psycopg.Error):
            return False  # no socket left to poll
        # An idle connection is sent nothing unasked; something there (its server's
        # goodbye, the end of the stream, a notice) is asked about with a query.
        if not readable:
            return True
    try:
        ConnectionPool.check_connection(connection)
    except psycopg.Error:
        return False
    return True
