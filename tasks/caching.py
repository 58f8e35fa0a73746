"""Per-user caches of task lists and statistics under versioned keys.

A key embeds the reader's version counters: their own (`user:<id>`) and, for those
who see every task, the "all" counter. A write bumps the counters of everyone who
can see the task (owner, assignee, old assignee, and "all") once it commits, so a
reader's next request builds a new key; nothing is ever scanned or deleted, and old
entries simply expire. A bump happens after commit: bumping earlier could let a
reader cache the pre-commit rows under the new version.

If the cache is down, reads miss and compute from the database (django-redis logs
the fault), and bumps are lost harmlessly: nothing was cached meanwhile either.
"""

import hashlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache

from accounts.models import User
from monitoring.metrics import TASK_LIST_CACHE
from taskmanager.transactions import after_commit

ENTRY_TTL = 300
ALL = "all"


def _version_key(scope: str) -> str:
    return f"tasks:version:{scope}"


def _scopes(user: User) -> list[str]:
    scopes = [f"user:{user.pk}"]
    if user.has_perm("tasks.view_any_task"):
        scopes.append(ALL)
    return scopes


def _versions(user: User) -> str:
    keys = [_version_key(scope) for scope in _scopes(user)]
    found = cache.get_many(keys)
    # A missing counter starts at the current time, never at a number an evicted
    # counter may already have used.
    for key in keys:
        if key not in found:
            cache.add(key, time.time_ns(), timeout=None)
            found[key] = cache.get(key)
    return ".".join(str(found.get(key)) for key in keys)


def cached(
    user: User,
    kind: str,
    params: str,
    compute: Callable[[], Any],
    ttl: Callable[[Any], int] = lambda value: ENTRY_TTL,
) -> Any:
    """The cached value for this user and these parameters, computed on a miss and
    kept for `ttl(value)` seconds (at most ENTRY_TTL)."""
    digest = hashlib.sha256(params.encode()).hexdigest()[:32]
    key = f"tasks:{kind}:{user.pk}:{_versions(user)}:{digest}"
    value = cache.get(key)
    TASK_LIST_CACHE.labels(kind=kind, result="miss" if value is None else "hit").inc()
    if value is None:
        value = compute()
        timeout = min(ENTRY_TTL, ttl(value))
        if timeout > 0:
            cache.set(key, value, timeout)
    return value


def invalidate_for(user_ids: Iterable[int | None]) -> None:
    """After the current transaction commits, make these users' (and every
    "see all" reader's) cached lists and statistics unreachable."""
    scopes = [f"user:{uid}" for uid in sorted({uid for uid in user_ids if uid is not None})]
    scopes.append(ALL)
    after_commit(lambda: _bump(scopes))


def _bump(scopes: list[str]) -> None:
    for scope in scopes:
        key = _version_key(scope)
        try:
            cache.incr(key)
        except ValueError:  # no counter yet: nothing cached under it either
            cache.add(key, time.time_ns(), timeout=None)
