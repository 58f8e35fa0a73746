"""Per-user caches of task lists, statistics and task details, checked against
version counters (a detail shows what a list shows of its task: the same counters).

A reader's lists depend on counters: one per project they belong to
(`project:<id>`, bumped by every change of what the project's lists show: a task
written in it, an archive, a deletion), their own (`member:<id>`, bumped when they
join or leave a project) and, for those who see every task, the "all" counter
(bumped by every write). An entry records the counters it was computed under and is
a hit only while they are still the reader's. A write bumps its project's counter
and "all" once it commits: its cost does not grow with the project's members, and
nothing is ever scanned or deleted; old entries are overwritten or expire. A bump
happens after commit: bumping earlier could let a reader cache the pre-commit rows
under the new version.

Which projects a reader belongs to is cached too (`tasks:projects:<id>`, tagged with
the `member:` counter it was read under, so a membership change makes it stale). On
Redis it is a plain string that a Lua script reads with the counters it names: a
warm read is one round trip, read ahead with authentication's (taskmanager.readahead).

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

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeGuard

from django.core.cache import cache, caches
from django.db.models import Count, QuerySet
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

from accounts.models import User
from projects import selectors
from taskmanager import readahead, redis_effects
from taskmanager.metrics import TASK_LIST_CACHE
from taskmanager.transactions import after_commit
from tasks.models import Task

logger = logging.getLogger(__name__)

ENTRY_TTL = 300
ALL = "all"
# Marks the envelope `cached` stores its values in; a new layout takes a new mark.
ENTRY_FORMAT = 4
# How long a reader's project list is kept (a membership change replaces it sooner).
PROJECTS_TTL = 3600


# Scopes whose bump failed on Redis, bumped at the next chance (see above).
_unbumped: set[str] = set()
_unbumped_lock = threading.Lock()


def _version_key(scope: str) -> str:
    return f"tasks:version:{scope}"


def _member_scope(user_id: int) -> str:
    return f"member:{user_id}"


def _project_scope(project_id: int) -> str:
    return f"project:{project_id}"


def _projects_key(user_id: int) -> str:
    return f"tasks:projects:{user_id}"


def _sees_all(user: User) -> bool:
    return user.has_perm("tasks.view_any_task")


def _is_counter(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _counter(key: str, found: dict[str, Any]) -> int:
    """The counter under `key` as read into `found`; a missing one starts at the
    current time, never at a number an evicted counter may already have used."""
    if key not in found:
        cache.add(key, time.time_ns(), timeout=None)
        found[key] = cache.get(key)
    if not _is_counter(found[key]):
        # A corrupt counter could not be bumped, which would freeze the lists cached
        # under it; a new one (never used: it is the time) replaces it.
        logger.warning("task cache version %s is not a counter; replaced", key)
        found[key] = time.time_ns()
        cache.set(key, found[key], timeout=None)
    return int(found[key])


def _versions(
    user: User, found: dict[str, Any], projects: "_Projects | None" = None
) -> tuple[str, dict[int, int] | None]:
    """The reader's counters as one string, and the counter of each of their projects
    (None for a reader of every task); `found` holds the counters already read,
    `projects` their project list as read with its counters."""
    if _sees_all(user):
        return str(_counter(_version_key(ALL), found)), None
    member = _counter(_version_key(_member_scope(user.pk)), found)
    counters = _project_counters(user, member, found, projects)
    parts = [str(member), *(f"{pid}:{counters[pid]}" for pid in sorted(counters))]
    return ".".join(parts), counters


def _project_counters(
    user: User, member: int, found: dict[str, Any], projects: "_Projects | None"
) -> dict[int, int]:
    """The counter of each project of the reader, their list checked against their
    `member:` counter (read afresh from the database when stale)."""
    if projects is None or projects.tag != member:
        projects = _projects_read(user)
    if projects is None or projects.tag != member:
        ids = sorted(selectors.project_ids_of_many([user.pk]).get(user.pk, ()))
        _projects_write(user.pk, member, ids)
        projects = _Projects(member, dict.fromkeys(ids))
    missing = [_version_key(_project_scope(p)) for p, v in projects.ids.items() if v is None]
    if missing:
        found.update(cache.get_many(missing))
    counters = {}
    for pid, value in projects.ids.items():
        key = _version_key(_project_scope(pid))
        if value is not None:
            found[key] = value
        counters[pid] = _counter(key, found)
    return counters


class _Projects:
    """A reader's project list as cached: the `member:` counter it was read under,
    each project's counter where it was read with it (None: not read), and the entries
    of `count_by_project` read with them."""

    def __init__(
        self,
        tag: int,
        ids: dict[int, Any],
        counts: Callable[[], dict[int, Any]] | None = None,
    ) -> None:
        self.tag = tag
        self.ids = ids
        # Decodes each project's entry of `count_by_project` read with them, if any:
        # only a list that misses its cache uses them, so a hit decodes none.
        self._counts = counts

    def counts(self) -> dict[int, Any] | None:
        """The entries of `count_by_project` read with the projects, decoded."""
        return None if self._counts is None else self._counts()


# Reads the project list under KEYS[1] ("<tag>|<id>,<id>...") and, for each prefix
# in ARGV, the key of that prefix and each project's id: the projects' counters
# (ARGV[1]) and, for a list, each project's count (ARGV[2]). One round trip for a
# warm reader. Nothing when missing.
PROJECTS_SCRIPT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {} end
local out = {raw}
local bar = string.find(raw, '|', 1, true)
if not bar then return out end
local ids = {}
for id in string.gmatch(string.sub(raw, bar + 1), '%d+') do
  table.insert(ids, id)
end
for _, prefix in ipairs(ARGV) do
  for _, id in ipairs(ids) do
    table.insert(out, redis.call('GET', prefix .. id))
  end
end
return out
"""


def projects_script_args(user_id: int) -> tuple[str, str]:
    """The key and the argument of PROJECTS_SCRIPT for this reader (unprefixed key)."""
    return _projects_key(user_id), _version_key(_project_scope(0))[:-1]


def parse_projects(reply: Any, decode: Callable[[Any], Any]) -> "_Projects | None":
    """PROJECTS_SCRIPT's reply, read: None when missing or not ours."""
    if not isinstance(reply, list) or not reply:
        return None
    raw = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    tag, bar, rest = raw.partition("|")
    if not bar or not tag.isdigit():
        return None
    ids = [int(part) for part in rest.split(",") if part.isdigit()]
    values = reply[1:]
    if len(values) not in (len(ids), 2 * len(ids)):
        return None
    counters: dict[int, Any] = {}
    for pid, value in zip(ids, values, strict=False):
        decoded = decode(value) if value is not None else None
        counters[pid] = decoded if _is_counter(decoded) else None
    if not ids or len(values) != 2 * len(ids):
        return _Projects(int(tag), counters)
    raw_counts = dict(zip(ids, values[len(ids) :], strict=True))
    return _Projects(
        int(tag),
        counters,
        lambda: {pid: None if raw is None else decode(raw) for pid, raw in raw_counts.items()},
    )


def _projects_read(user: User) -> "_Projects | None":
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        key, prefix = projects_script_args(user.pk)
        try:
            reply = backend.client.get_client(write=False).eval(
                PROJECTS_SCRIPT, 1, backend.make_key(key), backend.make_key(prefix)
            )
        except RedisError:
            logger.warning("task cache project list not read: Redis unavailable", exc_info=True)
            return None
        return parse_projects(reply, backend.client.decode)
    value = cache.get(_projects_key(user.pk))
    if not (isinstance(value, tuple) and len(value) == 2 and _is_counter(value[0])):
        return None
    return _Projects(value[0], {pid: None for pid in value[1] if isinstance(pid, int)})


def _projects_write(user_id: int, tag: int, ids: list[int]) -> None:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        raw = f"{tag}|{','.join(str(pid) for pid in ids)}"
        try:
            backend.client.get_client(write=True).set(
                backend.make_key(_projects_key(user_id)), raw, ex=PROJECTS_TTL
            )
        except RedisError:
            logger.warning("task cache project list not kept: Redis unavailable", exc_info=True)
        return
    cache.set(_projects_key(user_id), (tag, ids), PROJECTS_TTL)


def cached(
    user: User,
    kind: str,
    params: str,
    compute: Callable[[], Any],
    ttl: Callable[[Any], int] = lambda value: ENTRY_TTL,
    request: readahead.AnyRequest | None = None,
    counted: str | None = None,
) -> Any:
    """The cached value for this user and these parameters, computed on a miss and
    kept for `ttl(value)` seconds (at most ENTRY_TTL). Given the request, whose
    authentication read `read_ahead_keys` ahead (taskmanager.readahead), no round
    trip of its own; `counted`: the filters of the list `compute` counts with
    `count_by_project`, whose counts were read ahead with the projects."""
    if _unbumped and isinstance(caches["default"], RedisCache) and _bump_on_redis([]):
        request = None  # its read ahead is from before the bump
    key = entry_key(user.pk, kind, params)
    scope = ALL if _sees_all(user) else _member_scope(user.pk)
    keys = [_version_key(scope), key]
    found = readahead.get_many(request, keys)
    if found is None:
        found = cache.get_many(keys)
    projects = None
    if scope != ALL and isinstance(caches["default"], RedisCache):
        reply = readahead.script_reply(request, projects_read(user.pk, counted))
        if reply is not readahead.NOT_READ:
            projects = parse_projects(reply, caches["default"].client.decode)
    versions, counters = _versions(user, found, projects)
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
    read_counts = projects.counts() if projects is not None and counted is not None else None
    computing = _computing.set(
        _Computing(user.pk, counters, counted, read_counts if read_counts is not None else {})
    )
    try:
        value = compute()
    finally:
        _computing.reset(computing)
    timeout = min(ENTRY_TTL, ttl(value))
    if timeout > 0:
        cache.set(key, {"format": ENTRY_FORMAT, "versions": versions, "value": value}, timeout)
    return value


class _Computing(NamedTuple):
    """While `cached` computes a value: the reader and the counters of their projects,
    for `count_by_project` to check the counts it keeps against; the filters whose
    counts were read ahead, and those counts by project (what was found, if anything)."""

    user_id: int
    counters: dict[int, int] | None
    counted: str | None
    counts: dict[int, Any]


_computing: ContextVar[_Computing | None] = ContextVar("tasks_caching_computing", default=None)


def count_by_project(user: User, params: str, tasks: Callable[[], QuerySet[Any]]) -> int:
    """`tasks().count()` for a list `cached` is computing: the sum of each of the
    reader's projects' counts, each kept (for every member: it does not depend on who
    reads) under its project's counter and these filter `params`. A write in one
    project recounts that project only. `tasks` is called only to count."""
    computing = _computing.get()
    if computing is None or computing.user_id != user.pk or computing.counters is None:
        return tasks().count()
    counters = computing.counters
    keys = {pid: _count_key(pid, params) for pid in counters}
    if computing.counted == params and computing.counts.keys() >= counters.keys():
        kept = {keys[pid]: computing.counts[pid] for pid in counters}
    else:
        kept = cache.get_many(list(keys.values()))
    total, stale = 0, []
    for pid, key in keys.items():
        entry = kept.get(key)
        # Anything but what this function stored, under this counter, is recounted.
        version, count = entry if isinstance(entry, tuple) and len(entry) == 2 else (None, None)
        if version == counters[pid] and _is_counter(count):
            total += count
        else:
            stale.append(pid)
    if stale:
        rows = (
            tasks()
            .filter(project_id__in=stale)
            .order_by()
            .values("project_id")
            .annotate(n=Count("id"))
            .values_list("project_id", "n")
        )
        counted = dict(rows)
        # Under the counters read before the count: a write committed meanwhile only
        # makes the entry stale sooner.
        cache.set_many(
            {keys[pid]: (counters[pid], counted.get(pid, 0)) for pid in stale}, ENTRY_TTL
        )
        total += sum(counted.values())
    return total


@functools.lru_cache(maxsize=512)
def _digest(params: str) -> str:
    # Remembered: a list's keys take it once per project of the reader.
    return hashlib.sha256(params.encode()).hexdigest()[:32]


def _count_key(project_id: int, params: str) -> str:
    """Where `count_by_project` keeps a project's count for these filters: the
    project last, so that PROJECTS_SCRIPT reads them all from one prefix."""
    return f"tasks:count:{_digest(params)}:{project_id}"


def entry_key(user_id: int, kind: str, params: str) -> str:
    """Where `cached` keeps this user's `kind` for these parameters."""
    return f"tasks:{kind}:{user_id}:{_digest(params)}"


def read_ahead_keys(user_id: int, kind: str, params: str) -> list[str]:
    """Every key `cached` may read for this user (before their permissions are known,
    both counters a reader can have) and these parameters: a view's part of
    `readahead.ReadsAhead`."""
    return [
        _version_key(_member_scope(user_id)),
        _version_key(ALL),
        entry_key(user_id, kind, params),
    ]


def projects_read(user_id: int, counted: str | None = None) -> readahead.ScriptRead:
    """The reader's project list and its counters, and with `counted` (a list's
    filters) each project's count of the list: a view's part of
    `readahead.ScriptsAhead`."""
    key, prefix = projects_script_args(user_id)
    if counted is None:
        return readahead.ScriptRead(PROJECTS_SCRIPT, (key,), (prefix,))
    counts = _count_key(0, counted)[:-1]
    return readahead.ScriptRead(PROJECTS_SCRIPT, (key,), (prefix, counts))


def invalidate_projects(project_ids: Iterable[int | None]) -> None:
    """After the current transaction commits, make the cached lists and statistics
    of these projects' members (and every "see all" reader's) unreachable."""
    scopes = [_project_scope(p) for p in sorted({p for p in project_ids if p is not None})]
    scopes.append(ALL)
    _bump_after_commit(scopes)


def invalidate_project_of(task: Task) -> None:
    """`invalidate_projects([task.project_id])` for a task whose project its write
    draws (a create in the owner's personal project): read when the transaction
    commits, if the task was written by then (it has its key)."""
    if _gathered.get() is not None:
        raise RuntimeError("invalidate_project_of: its project is not known yet")

    def bump() -> None:
        if task.pk is not None:
            _bump([_project_scope(task.project_id), ALL])

    after_commit(bump)


def invalidate_members(user_ids: Iterable[int]) -> None:
    """After commit: these users joined or left projects; their project lists and
    what was cached under them are read afresh."""
    _bump_after_commit([_member_scope(uid) for uid in sorted(set(user_ids))])


def _bump_after_commit(scopes: list[str]) -> None:
    gathering = _gathered.get()
    if gathering is not None:
        gathering.update(scopes)
    else:
        after_commit(lambda: _bump(scopes))


# Inside `invalidations_gathered()`: the scopes its writes asked to bump.
_gathered: ContextVar[set[str] | None] = ContextVar("gathered_bumps", default=None)


@contextmanager
def invalidations_gathered() -> Iterator[None]:
    """Around many writes of one transaction (a bulk change of 100 tasks): each
    scope they invalidate is bumped once after the commit, in one round trip, rather
    than once a write. Leaving with an exception registers nothing: the transaction
    rolls back."""
    token = _gathered.set(set())
    try:
        yield
        gathered = _gathered.get() or set()
    finally:
        _gathered.reset(token)
    if gathered:
        after_commit(lambda: _bump(sorted(gathered)))


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
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # With the write's other calls to Redis, after its commit (redis_effects).
        scopes = _with_unbumped(scopes)
        if scopes:
            keys = [backend.make_key(_version_key(scope)) for scope in scopes]
            redis_effects.send(
                redis_effects.Call(
                    client=lambda: backend.client.get_client(write=True),
                    script=_BUMP_SCRIPT,
                    arguments=lambda: (keys, [time.time_ns()]),
                    done=lambda replaced: _replaced(scopes, replaced),
                    failed=lambda exc: _not_bumped(scopes, exc),
                )
            )
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
    """Bump these scopes and any whose bump failed before, now; False if Redis failed
    (they wait for the next chance)."""
    scopes = _with_unbumped(scopes)
    backend = caches["default"]
    if not scopes or not isinstance(backend, RedisCache):
        return True
    keys = [backend.make_key(_version_key(scope)) for scope in scopes]
    try:
        client = backend.client.get_client(write=True)
        replaced = client.eval(_BUMP_SCRIPT, len(keys), *keys, time.time_ns())
    except RedisError as exc:
        _not_bumped(scopes, exc)
        return False
    _replaced(scopes, replaced)
    return True


def _with_unbumped(scopes: list[str]) -> list[str]:
    """`scopes` and those whose bump failed before (taken: a failure puts them back)."""
    with _unbumped_lock:
        scopes = sorted({*scopes, *_unbumped})
        _unbumped.clear()
    return scopes


def _not_bumped(scopes: list[str], exc: Exception) -> None:
    with _unbumped_lock:
        _unbumped.update(scopes)
    logger.warning(
        "task cache versions not bumped (Redis unavailable); kept for the next chance",
        exc_info=exc,
    )


def _replaced(scopes: list[str], replaced: list[int]) -> None:
    for position in replaced:
        key = _version_key(scopes[position - 1])
        logger.warning("task cache version %s is not a counter; replaced", key)
