"""Per-user caches of task lists and statistics, checked against version counters.

A reader has version counters: their own (`user:<id>`) and, for those who see every
task, the "all" counter. An entry records the counters it was computed under and is
a hit only while they are still the reader's; one MGET reads the counters and the
entry together. A write bumps the counters of everyone who can see the task (owner,
assignee, old assignee, and "all") once it commits, so the entries computed before
no longer match; nothing is ever scanned or deleted, and old entries are overwritten
or expire. A bump happens after commit: bumping earlier could let a reader cache the
pre-commit rows under the new version.

If the cache is down, reads miss and compute from the database (django-redis logs
the fault). A bump that fails on Redis is not lost: Redis may only have blinked, with
the entries from before it still there, so the process keeps the scopes and bumps
them with its next bump or before its next cached read, whichever comes first. Until
then another process may serve an entry from before the write (at most ENTRY_TTL).

The cache is shared (other releases, a partial write, an operator's mistake), so what
is read back is checked before it is trusted: an entry not in the envelope `cached`
writes is a miss, and a version counter that is not an integer is replaced by a new
one, which only makes the entries cached under it unreachable.
"""

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache, caches
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

from accounts.models import User
from taskmanager import readahead
from taskmanager.metrics import TASK_LIST_CACHE
from taskmanager.transactions import after_commit

logger = logging.getLogger(__name__)

ENTRY_TTL = 300
ALL = "all"
# Marks the envelope `cached` stores its values in; a new layout takes a new mark.
ENTRY_FORMAT = 2


# Scopes whose bump failed on Redis, bumped at the next chance (see above).
_unbumped: set[str] = set()
_unbumped_lock = threading.Lock()


def _version_key(scope: str) -> str:
    return f"tasks:version:{scope}"


def _user_scope(user_id: int) -> str:
    return f"user:{user_id}"


def _scopes(user: User) -> list[str]:
    scopes = [_user_scope(user.pk)]
    if user.has_perm("tasks.view_any_task"):
        scopes.append(ALL)
    return scopes


def _is_counter(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _versions(user: User, found: dict[str, Any] | None = None) -> str:
    """The reader's counters as one string; `found` holds those already read."""
    keys = [_version_key(scope) for scope in _scopes(user)]
    if found is None:
        found = cache.get_many(keys)
    # A missing counter starts at the current time, never at a number an evicted
    # counter may already have used.
    for key in keys:
        if key not in found:
            cache.add(key, time.time_ns(), timeout=None)
            found[key] = cache.get(key)
        if not _is_counter(found[key]):
            # A corrupt counter could not be bumped, which would freeze the lists
            # cached under it; a new one (never used: it is the time) replaces it.
            logger.warning("task cache version %s is not a counter; replaced", key)
            found[key] = time.time_ns()
            cache.set(key, found[key], timeout=None)
    return ".".join(str(found[key]) for key in keys)


def cached(
    user: User,
    kind: str,
    params: str,
    compute: Callable[[], Any],
    ttl: Callable[[Any], int] = lambda value: ENTRY_TTL,
    request: readahead.AnyRequest | None = None,
) -> Any:
    """The cached value for this user and these parameters, computed on a miss and
    kept for `ttl(value)` seconds (at most ENTRY_TTL). Given the request, whose
    authentication read `read_ahead_keys` ahead (taskmanager.readahead), no round
    trip of its own."""
    if _unbumped and isinstance(caches["default"], RedisCache) and _bump_on_redis([]):
        request = None  # its read ahead is from before the bump
    key = entry_key(user.pk, kind, params)
    keys = [*(_version_key(scope) for scope in _scopes(user)), key]
    found = readahead.get_many(request, keys)
    if found is None:
        found = cache.get_many(keys)
    versions = _versions(user, found)
    entry: Any = found.get(key)
    # Only what this function stored counts: anything else under the key (text, a
    # number, another layout) is recomputed and overwritten; an entry of ours computed
    # under other counters is out of date.
    ours = isinstance(entry, dict) and entry.get("format") == ENTRY_FORMAT and "value" in entry
    hit = ours and entry.get("versions") == versions
    TASK_LIST_CACHE.labels(kind=kind, result="hit" if hit else "miss").inc()
    if hit:
        return entry["value"]
    if entry is not None and not ours:
        logger.warning("task cache entry %s is not one of ours; recomputed", key)
    value = compute()
    timeout = min(ENTRY_TTL, ttl(value))
    if timeout > 0:
        cache.set(key, {"format": ENTRY_FORMAT, "versions": versions, "value": value}, timeout)
    return value


def entry_key(user_id: int, kind: str, params: str) -> str:
    """Where `cached` keeps this user's `kind` for these parameters."""
    digest = hashlib.sha256(params.encode()).hexdigest()[:32]
    return f"tasks:{kind}:{user_id}:{digest}"


def read_ahead_keys(user_id: int, kind: str, params: str) -> list[str]:
    """Every key `cached` may read for this user (before their permissions are known,
    both counters a reader can have) and these parameters: a view's part of
    `readahead.ReadsAhead`."""
    return [_version_key(_user_scope(user_id)), _version_key(ALL), entry_key(user_id, kind, params)]


def invalidate_for(user_ids: Iterable[int | None]) -> None:
    """After the current transaction commits, make these users' (and every
    "see all" reader's) cached lists and statistics unreachable."""
    scopes = [_user_scope(uid) for uid in sorted({uid for uid in user_ids if uid is not None})]
    scopes.append(ALL)
    after_commit(lambda: _bump(scopes))


# One round trip for all of a write's counters on Redis: each one that exists and
# holds an integer goes up by one; a missing one starts at ARGV[1] (the time, as
# `_versions` starts one); one holding anything else is replaced by ARGV[1] too, and
# its position is returned so that it is logged.
_BUMP_SCRIPT = """
local replaced = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('SET', key, ARGV[1])
  else
    local bumped = redis.pcall('INCR', key)
    if type(bumped) == 'table' and bumped.err then
      redis.call('SET', key, ARGV[1])
      table.insert(replaced, i)
    end
  end
end
return replaced
"""


def _bump(scopes: list[str]) -> None:
    if isinstance(caches["default"], RedisCache):
        _bump_on_redis(scopes)
        return
    for scope in scopes:
        key = _version_key(scope)
        try:
            bumped = cache.incr(key)
        except ValueError:  # no counter yet: nothing cached under it either
            cache.add(key, time.time_ns(), timeout=None)
            continue
        except TypeError:  # not a number: incr adds 1 to whatever it finds
            bumped = None
        if not _is_counter(bumped):
            # A new counter makes everything cached under the old value unreachable,
            # as a bump would.
            logger.warning("task cache version %s is not a counter; replaced", key)
            cache.set(key, time.time_ns(), timeout=None)


def _bump_on_redis(scopes: list[str]) -> bool:
    """Bump these scopes and any whose bump failed before; False if Redis failed
    (they wait for the next chance)."""
    with _unbumped_lock:
        scopes = sorted({*scopes, *_unbumped})
        _unbumped.clear()
    if not scopes:
        return True
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return True
    keys = [backend.make_key(_version_key(scope)) for scope in scopes]
    try:
        client = backend.client.get_client(write=True)
        replaced = client.eval(_BUMP_SCRIPT, len(keys), *keys, time.time_ns())
    except RedisError:
        with _unbumped_lock:
            _unbumped.update(scopes)
        logger.warning(
            "task cache versions not bumped (Redis unavailable); kept for the next chance",
            exc_info=True,
        )
        return False
    for position in replaced:
        key = _version_key(scopes[position - 1])
        logger.warning("task cache version %s is not a counter; replaced", key)
    return True
