"""Commands sent to Redis in one round trip, on the hot paths.

redis-py's `Pipeline` queues each command as an object, then packs, sends, reads and
resets around them; for the two round trips every write makes (the read ahead with
authentication, the calls after its commit) that bookkeeping cost more of the
worker's CPU than the round trip itself (bench/RESULTS.md, "Round trips without
redis-py's pipeline"). `round_trip` does what a pipeline without a transaction does,
and nothing else: a connection from the client's pool (so the breaker is asked and
told, taskmanager.redis_breaker), the commands packed and sent as one packet, their
replies read in order, the connection given back.
"""

from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ResponseError

Command = Sequence[Any]


def round_trip(client: redis.Redis, commands: Sequence[Command]) -> list[Any]:
    """Each command's reply, in order; a command Redis refused has its error
    (`ResponseError`, e.g. `NoScriptError`) as its reply. A fault of the connection
    raises (`RedisError`) and drops the connection, as a pipeline does. Replies are
    Redis's own, without redis-py's per-command conversions (EXPIRE's 0 or 1 stays
    an integer)."""
    if not commands:
        return []
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command(connection.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:
                replies.append(exc)
    except BaseException:
        # Replies may be left unread on it: not for the next user.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)
    return replies
