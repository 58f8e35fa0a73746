"""One Redis round trip for what an authenticated request reads first.

Authentication reads the session and user entries; the throttle then counts the
request; a cached list then reads its version counters and entry. Each was a round
trip of its own, together about half of a warm cached list's time in the worker.
Once the access token is verified, the user id is known, and with it every key the
others will read: SimpleJWT's authentication sends them all in one pipeline (MGET
and INCR with EXPIRE NX), and each reader takes its part from the request's
`ReadAhead` instead of asking the cache again.

The counter is counted before the session is known to be live; a request whose
session has ended takes its count back (`uncount`), so a revoked token cannot spend
its user's allowance.

What a reader does with the values does not change: the same checks of what is
read back, the same fallbacks. The read ahead is an optimisation only; without it
(the local-memory cache, Redis failing, a value that does not decode, a throttle
window that turned between the two) every reader asks the cache itself, as before.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import caches
from django_redis.cache import RedisCache
from redis.exceptions import RedisError
from rest_framework.request import Request

logger = logging.getLogger(__name__)


@dataclass
class Plan:
    """What to send: cache keys to read, and fixed-window counters to count
    (key, window seconds) as `taskmanager.throttles` counts them."""

    keys: list[str] = field(default_factory=list)
    counters: list[tuple[str, int]] = field(default_factory=list)


class ReadAhead:
    """What one round trip read and counted."""

    def __init__(self, found: dict[str, Any], read: Iterable[str], counted: dict[str, int]):
        self._found = found
        self._read = frozenset(read)
        self._counted = counted

    def get_many(self, keys: Iterable[str]) -> dict[str, Any] | None:
        """As `cache.get_many(keys)`, or None when not all of them were read."""
        keys = list(keys)
        if not self._read.issuperset(keys):
            return None
        return {key: self._found[key] for key in keys if key in self._found}

    def counted(self, key: str) -> int | None:
        """The counter's value after this request's increment, if it was counted."""
        return self._counted.get(key)

    def counted_keys(self) -> list[str]:
        return list(self._counted)


def of(request: Request | None) -> ReadAhead | None:
    """The request's read ahead, if authentication made one."""
    value = getattr(request, "read_ahead", None)
    return value if isinstance(value, ReadAhead) else None


def fetch(plan: Plan) -> ReadAhead | None:
    """Send the plan to Redis in one round trip; None without Redis or on a fault
    (the readers then ask the cache themselves, which logs and copes)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    keys = list(dict.fromkeys(plan.keys))
    try:
        replies = _send(backend, keys, plan.counters)
    except RedisError:
        logger.warning("read ahead not sent: Redis unavailable", exc_info=True)
        return None
    found: dict[str, Any] = {}
    if keys:
        values = replies.pop(0)
        if isinstance(values, Exception):
            logger.warning("read ahead dropped: MGET failed: %s", values)
            return None
        try:
            found = {
                key: backend.client.decode(value)
                for key, value in zip(keys, values, strict=True)
                if value is not None
            }
        except Exception:  # not what this service wrote: read it the slow way
            logger.warning("read ahead dropped: a value does not decode", exc_info=True)
            return None
    counted = {}
    for (key, _window), count in zip(plan.counters, replies[::2], strict=True):
        # An INCR of a value that is no integer fails here; the throttle meets it
        # again and restarts the counter.
        if isinstance(count, int):
            counted[key] = count
    return ReadAhead(found, keys, counted)


def uncount(ahead: ReadAhead) -> None:
    """Take back the counts of a request that then failed authentication (a token of
    an ended session), so that holding one cannot spend its user's allowance."""
    backend = caches["default"]
    keys = ahead.counted_keys()
    if not keys or not isinstance(backend, RedisCache):
        return
    try:
        pipe = backend.client.get_client(write=True).pipeline(transaction=False)
        for key in keys:
            pipe.decr(backend.make_key(key))
        pipe.execute()
    except RedisError:
        logger.warning("read ahead counts not taken back: Redis unavailable", exc_info=True)


def _send(backend: RedisCache, keys: list[str], counters: list[tuple[str, int]]) -> list[Any]:
    """MGET of the keys, then INCR and EXPIRE NX of each counter: one pipeline, its
    replies in that order (an error as its exception, not raised)."""
    pipe = backend.client.get_client(write=True).pipeline(transaction=False)
    if keys:
        pipe.mget([backend.make_key(key) for key in keys])
    for key, window in counters:
        pipe.incr(backend.make_key(key))
        pipe.expire(backend.make_key(key), window + 1, nx=True)
    return list(pipe.execute(raise_on_error=False))
