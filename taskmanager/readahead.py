"""One Redis round trip for what an authenticated request reads first.

Once an access token is verified its user id is known, and with it the keys the
request will read first: the session and user entries, the throttle's counter, and a
cached view's entry and version counters. On Redis they are read (and the counter
counted) in one pipeline, and each reader takes its part from here:

- authentication: `start(request, user_id, keys)` sends its own `keys` with what the
  view (`ReadsAhead`) and its throttle classes (`CountsAhead`) declare, and returns the
  values found under `keys`; `uncount(request)` if the session turns out to have ended
  (the counter is counted before that is known; a revoked token must not spend its
  user's allowance).
- readers: `get_many(request, keys)` (as `cache.get_many`) and `counted(request, key)`
  (the counter after this request's increment). None means "not read ahead": the
  reader asks the cache itself, with the same checks of what it reads back.

Nothing is read ahead without Redis, on a Redis fault or a value that does not decode,
or with the Django setting `READ_AHEAD = False` (read per call; bench/read_ahead.py
measures both ways).

What a request read ahead is kept here, in a WeakKeyDictionary keyed by its Django
HttpRequest (a DRF Request's `_request`, so a throttle given either finds it), not on
the request. It lives as long as that object and no other request can reach it, under
gunicorn's sync workers, daphne's thread pool (each thread touches only its own
request's key; get and set are single dict operations) and the test client alike. A
contextvar would have to be reset at every request's end, else the next request in a
sync worker's thread could read the last one's values.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeAlias, TypeGuard
from weakref import WeakKeyDictionary

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_redis.cache import RedisCache
from redis.exceptions import RedisError
from rest_framework.request import Request

from taskmanager.redis_round_trip import round_trip

logger = logging.getLogger(__name__)

AnyRequest: TypeAlias = HttpRequest | Request


class Counter(NamedTuple):
    """A fixed-window counter as `taskmanager.throttles` counts it: INCR, and EXPIRE
    NX of window + 1 seconds."""

    key: str
    window: int


class ScriptRead(NamedTuple):
    """A read that a Lua script makes in the same round trip (a list whose members
    name further keys). `keys` are cache keys; `key_args`, cache keys or key prefixes
    passed as arguments (both made into Redis keys as the cache makes them)."""

    script: str
    keys: tuple[str, ...]
    key_args: tuple[str, ...] = ()


# What `script_reply` answers for a script that was not read ahead.
NOT_READ = object()


class ReadsAhead(Protocol):
    """A view that says which cache keys its action reads first."""

    def read_ahead_keys(self, request: Request, user_id: int) -> Sequence[str]:
        """Every key the action may read first for this user (their permissions are
        not known yet); none for an action that reads nothing cached."""
        ...


class ScriptsAhead(Protocol):
    """A view whose action also reads through scripts first (optional)."""

    def read_ahead_scripts(self, request: Request, user_id: int) -> Sequence[ScriptRead]: ...


class CountsAhead(Protocol):
    """A throttle class that says which counter it counts for a user's request."""

    def counter_for(self, request: Request, user_id: int) -> Counter | None:
        """The counter its `allow_request` counts for this user's request now; None
        when it counts none."""
        ...


def start(request: Request, user_id: int, keys: Sequence[str]) -> dict[str, Any] | None:
    """Read `keys` with the view's and its throttles' first reads in one round trip;
    what was found under `keys` (as `cache.get_many`), or None if nothing was read
    ahead (the caller then reads the cache itself)."""
    http_request = _http_request(request)
    _read.pop(http_request, None)
    backend = caches["default"]
    if not settings.READ_AHEAD or not isinstance(backend, RedisCache):
        return None
    ahead = _fetch(backend, _plan(request, user_id, keys))
    if ahead is None:
        return None
    _read[http_request] = ahead
    return ahead.get_many(keys)


def get_many(request: AnyRequest | None, keys: Iterable[str]) -> dict[str, Any] | None:
    """As `cache.get_many(keys)` from what this request read ahead; None when not all
    of `keys` were."""
    ahead = _read.get(_http_request(request)) if request is not None else None
    return ahead.get_many(keys) if ahead is not None else None


def script_reply(request: AnyRequest | None, read: ScriptRead) -> Any:
    """The raw reply of a script read ahead for this request, or NOT_READ."""
    ahead = _read.get(_http_request(request)) if request is not None else None
    return ahead.script_reply(read) if ahead is not None else NOT_READ


def counted(request: AnyRequest | None, key: str) -> int | None:
    """The counter's value after this request's increment, if it was counted ahead
    (not when its window has turned since: another key)."""
    ahead = _read.get(_http_request(request)) if request is not None else None
    return ahead.counted(key) if ahead is not None else None


def uncount(request: AnyRequest) -> None:
    """Take back what this request counted ahead (it failed authentication), and
    forget what it read."""
    ahead = _read.pop(_http_request(request), None)
    backend = caches["default"]
    if ahead is None or not ahead.counted_keys() or not isinstance(backend, RedisCache):
        return
    try:
        pipe = backend.client.get_client(write=True).pipeline(transaction=False)
        for key in ahead.counted_keys():
            pipe.decr(backend.make_key(key))
        pipe.execute()
    except RedisError:
        logger.warning("read ahead counts not taken back: Redis unavailable", exc_info=True)


@dataclass
class _Plan:
    """What to send: cache keys to read, and counters to count."""

    keys: list[str] = field(default_factory=list)
    counters: list[Counter] = field(default_factory=list)
    scripts: list[ScriptRead] = field(default_factory=list)


class _ReadAhead:
    """What one round trip read and counted."""

    def __init__(
        self,
        found: dict[str, Any],
        read: Iterable[str],
        counted: dict[str, int],
        scripts: dict[ScriptRead, Any] | None = None,
    ):
        self._found = found
        self._read = frozenset(read)
        self._counted = counted
        self._scripts = scripts or {}

    def script_reply(self, read: ScriptRead) -> Any:
        return self._scripts.get(read, NOT_READ)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any] | None:
        keys = list(keys)
        if not self._read.issuperset(keys):
            return None
        return {key: self._found[key] for key in keys if key in self._found}

    def counted(self, key: str) -> int | None:
        return self._counted.get(key)

    def counted_keys(self) -> list[str]:
        return list(self._counted)


# Each request's read ahead, until the request object goes (see the docstring). The
# values hold no reference to their request, which would keep it alive.
_read: "WeakKeyDictionary[HttpRequest, _ReadAhead]" = WeakKeyDictionary()


def _http_request(request: AnyRequest) -> HttpRequest:
    return request._request if isinstance(request, Request) else request


def _reads_ahead(view: object) -> TypeGuard[ReadsAhead]:
    # getattr rather than a runtime_checkable isinstance: a few µs less per request.
    return callable(getattr(view, "read_ahead_keys", None))


def _scripts_ahead(view: object) -> TypeGuard[ScriptsAhead]:
    return callable(getattr(view, "read_ahead_scripts", None))


def _counts_ahead(throttle: object) -> TypeGuard[CountsAhead]:
    return callable(getattr(throttle, "counter_for", None))


def _plan(request: Request, user_id: int, keys: Sequence[str]) -> _Plan:
    """The caller's keys, the counters of the view's throttle classes (each once) and
    the keys the view reads first."""
    plan = _Plan(keys=list(keys))
    view = (request.parser_context or {}).get("view")
    if view is None:
        return plan
    for throttle in getattr(view, "throttle_classes", ()):
        if _counts_ahead(throttle):
            counter = throttle.counter_for(request, user_id)
            if counter is not None and counter not in plan.counters:
                plan.counters.append(counter)
    if _reads_ahead(view):
        plan.keys += view.read_ahead_keys(request, user_id)
    if _scripts_ahead(view):
        plan.scripts += view.read_ahead_scripts(request, user_id)
    return plan


def _fetch(backend: RedisCache, plan: _Plan) -> _ReadAhead | None:
    """Send the plan in one round trip; None on a fault (the readers then ask the
    cache themselves, which logs and copes)."""
    keys = list(dict.fromkeys(plan.keys))
    try:
        replies = _send(backend, keys, plan.counters, plan.scripts)
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
    scripts = {}
    for read in reversed(plan.scripts):
        reply = replies.pop()
        # A failed script is left unread: its reader runs it itself.
        if not isinstance(reply, Exception):
            scripts[read] = reply
    counted = {}
    for counter, count in zip(plan.counters, replies[::2], strict=True):
        # An INCR of a value that is no integer fails here; the throttle meets it
        # again and restarts the counter.
        if isinstance(count, int):
            counted[counter.key] = count
    return _ReadAhead(found, keys, counted, scripts)


def _send(
    backend: RedisCache, keys: list[str], counters: list[Counter], scripts: list[ScriptRead]
) -> list[Any]:
    """MGET of the keys, INCR and EXPIRE NX of each counter, then each script: one
    round trip, its replies in that order (an error as its exception, not raised)."""
    commands: list[tuple[Any, ...]] = []
    if keys:
        commands.append(("MGET", *(backend.make_key(key) for key in keys)))
    for key, window in counters:
        redis_key = backend.make_key(key)
        commands += [("INCRBY", redis_key, 1), ("EXPIRE", redis_key, window + 1, "NX")]
    for read in scripts:
        made = [backend.make_key(key) for key in (*read.keys, *read.key_args)]
        commands.append(("EVAL", read.script, len(read.keys), *made))
    return round_trip(backend.client.get_client(write=True), commands)
