"""A committed write's Redis scripts in one round trip.

Once a write commits, its on-commit effects call Redis scripts: the caches' counters
are bumped (tasks.caching) and its events handed to the sockets (realtime.sending).
Each called the script itself, a round trip each. Called through `send`, the calls
made while `gathered()` is open (the backend opens it around the on-commit hooks it
runs: taskmanager.postgresql) go at its end, in the order they were made, in one
pipeline per Redis server; elsewhere each goes at once.

Each call learns its own outcome: its reply, or the error of its script or of the
connection. A call's `turn` (a lock) is held from the moment its arguments are made
until its pipeline's replies are back, so calls that number their messages reach
Redis in the order of their numbers.
"""

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from redis.exceptions import NoScriptError, RedisError

from taskmanager.redis_round_trip import round_trip

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Call:
    """One script call on `client()`'s Redis. Calls to the same server share a
    pipeline, on the client of the first of them. `arguments` makes the script's keys
    and arguments when the call is sent."""

    client: Callable[[], redis.Redis]
    script: str
    arguments: Callable[[], tuple[Sequence[Any], Sequence[Any]]]
    done: Callable[[Any], None]
    failed: Callable[[Exception], None]
    turn: Any = None


# Inside `gathered()`: the calls waiting for its end.
_gathering: ContextVar[list[Call] | None] = ContextVar("redis_calls_gathered", default=None)


def send(call: Call) -> None:
    """Send `call` now, or with the others at the end of the open `gathered()`."""
    waiting = _gathering.get()
    if waiting is None:
        _send_all([call])
    else:
        waiting.append(call)


@contextmanager
def gathered() -> Iterator[None]:
    """The calls `send` is given inside go at the end, in one pipeline per server,
    even if the block raises. Inside another, the outer one sends them."""
    if _gathering.get() is not None:
        yield
        return
    waiting: list[Call] = []
    token = _gathering.set(waiting)
    try:
        yield
    finally:
        _gathering.reset(token)
        _send_all(waiting)


def _send_all(calls: list[Call]) -> None:
    by_server: dict[tuple[Any, ...], list[tuple[Call, redis.Redis]]] = {}
    for call in calls:
        try:
            client = call.client()
        except Exception as exc:  # it never raises out of the on-commit hooks
            _tell(call, exc)
            continue
        by_server.setdefault(_server(client), []).append((call, client))
    for same_server in by_server.values():
        try:
            _pipelined([call for call, _ in same_server], same_server[0][1])
        except Exception:  # a bug in a call's own code: the others are not held up
            logger.exception("Redis calls after commit failed")


def _server(client: redis.Redis) -> tuple[Any, ...]:
    """Which server and database the client talks to, as its pool was configured."""
    options = client.connection_pool.connection_kwargs
    return tuple(options.get(name) for name in ("host", "port", "path", "db", "username"))


def _pipelined(calls: list[Call], client: redis.Redis) -> None:
    outcomes: list[tuple[Call, Any]] = []
    with ExitStack() as turns:
        for turn in dict.fromkeys(call.turn for call in calls if call.turn is not None):
            turns.enter_context(turn)
        made = []
        for call in calls:
            try:
                made.append((call, *call.arguments()))
            except Exception as exc:  # a message that cannot be written fails alone
                outcomes.append((call, exc))
        try:
            replies = _executed(client, made, evalsha=True)
            # A Redis that lost its scripts (a restart) is sent the text of those.
            lost = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if lost:
                again = _executed(client, [made[i] for i in lost], evalsha=False)
                for i, reply in zip(lost, again, strict=True):
                    replies[i] = reply
        except RedisError as exc:
            replies = [exc] * len(made)
    outcomes += [(call, reply) for (call, _, _), reply in zip(made, replies, strict=True)]
    for call, reply in outcomes:
        _tell(call, reply)


def _executed(
    client: redis.Redis, made: list[tuple[Call, Sequence[Any], Sequence[Any]]], *, evalsha: bool
) -> list[Any]:
    """Each call's script in one round trip; its replies, an error as its exception."""
    return round_trip(
        client,
        [
            ("EVALSHA", _sha(call.script), len(keys), *keys, *args)
            if evalsha
            else ("EVAL", call.script, len(keys), *keys, *args)
            for call, keys, args in made
        ],
    )


def _tell(call: Call, reply: Any) -> None:
    try:
        if isinstance(reply, Exception):
            call.failed(reply)
        else:
            call.done(reply)
    except Exception:
        logger.exception("Redis call's outcome not handled")


@cache
def _sha(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
