"""Cache entries the task caches and throttles did not write: a value of the wrong
shape is a miss, a counter that is not a number is replaced and counts on.

A reader's entries are checked against their counters (tasks/caching.py): `member:<id>`
(their memberships) and `project:<id>` of each project they belong to, or `all` for
those who see every task.

tests/security/test_api10_unsafe_consumption.py checks the API answers (no 500, no
garbage served, no frozen list); these check what is left in the cache afterwards.
"""

from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django_redis.cache import RedisCache

from projects.models import Project
from taskmanager.throttles import FixedWindowThrottle
from tasks import caching

pytestmark = pytest.mark.django_db

CORRUPT = ["garbage", [1], 1.5, {"count": 1}]


def personal_project_id(user: Any) -> int:
    return Project.objects.get(personal_owner=user).pk


def scopes_of(member: Any) -> dict[str, str]:
    """The scopes of the counters a member's entries are checked against, by kind."""
    return {"member": f"member:{member.pk}", "project": f"project:{personal_project_id(member)}"}


class Computed:
    """A `compute` for `caching.cached` that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"figures": self.calls}


def key_of(member: Any, kind: str, params: str) -> str:
    return caching.entry_key(member.pk, kind, params)


def test_a_cached_value_is_computed_once_and_then_served(member):
    compute = Computed()

    first = caching.cached(member, "list", "p", compute)
    second = caching.cached(member, "list", "p", compute)

    assert first == second == {"figures": 1}
    assert compute.calls == 1


@pytest.mark.parametrize(
    "value",
    [
        *CORRUPT,
        {"figures": 7},
        {"format": 99, "value": 1},
        {"format": 1, "value": 1},
    ],
)
def test_a_value_the_cache_did_not_store_is_a_miss_and_is_overwritten(value, member):
    cache.set(key_of(member, "list", "p"), value, 60)
    compute = Computed()

    assert caching.cached(member, "list", "p", compute) == {"figures": 1}
    assert caching.cached(member, "list", "p", compute) == {"figures": 1}
    assert compute.calls == 1, "the recomputed value was stored and then served"


def member_versions(member: Any) -> str:
    """The versions string a member's entry is computed under now: their counter,
    then `<project id>:<its counter>` for each of their projects."""
    project = personal_project_id(member)
    member_counter = cache.get(caching._version_key(f"member:{member.pk}"))
    project_counter = cache.get(caching._version_key(f"project:{project}"))
    return f"{member_counter}.{project}:{project_counter}"


def test_an_entrys_versions_name_the_members_counter_and_each_of_their_projects(member):
    caching.cached(member, "list", "p", Computed())

    entry = cache.get(key_of(member, "list", "p"))

    assert entry["format"] == caching.ENTRY_FORMAT == 4
    assert entry["versions"] == member_versions(member)
    assert entry["value"] == {"figures": 1}


def test_an_entry_of_the_layout_before_collaboration_is_a_miss_even_under_the_same_counters(member):
    compute = Computed()
    caching.cached(member, "list", "p", compute)
    key = key_of(member, "list", "p")
    cache.set(key, {**cache.get(key), "format": 3, "value": {"figures": "old"}}, 60)

    assert caching.cached(member, "list", "p", compute) == {"figures": 2}
    assert cache.get(key)["format"] == 4


@pytest.mark.parametrize("scope", ["member", "project"])
@pytest.mark.parametrize("value", CORRUPT)
def test_a_corrupt_version_counter_is_replaced_by_a_number(value, scope, member):
    key = caching._version_key(scopes_of(member)[scope])
    cache.set(key, value, None)

    caching.cached(member, "list", "p", Computed())

    assert isinstance(cache.get(key), int)
    assert cache.get(key_of(member, "list", "p"))["versions"] == member_versions(member)


@pytest.mark.parametrize("value", CORRUPT)
def test_a_corrupt_all_counter_is_replaced_by_a_number(value, manager):
    key = caching._version_key("all")
    cache.set(key, value, None)

    caching.cached(manager, "list", "p", Computed())

    assert isinstance(cache.get(key), int)
    assert cache.get(key_of(manager, "list", "p"))["versions"] == str(cache.get(key))


@pytest.mark.parametrize("scope", ["member", "project"])
@pytest.mark.parametrize("value", CORRUPT)
def test_a_bump_of_a_corrupt_counter_still_moves_the_version(value, scope, member):
    scope = scopes_of(member)[scope]
    key = caching._version_key(scope)
    cache.set(key, value, None)

    caching._bump([scope])

    bumped = cache.get(key)
    assert isinstance(bumped, int)
    assert bumped != value
    # And it bumps as a counter from then on.
    caching._bump([scope])
    assert cache.get(key) == bumped + 1


@pytest.mark.parametrize("value", CORRUPT)
def test_a_corrupt_throttle_counter_restarts_and_counts_on(value):
    cache.set("throttle:read:user:1:0", value, 120)

    counts = [FixedWindowThrottle._increment("throttle:read:user:1:0", 60) for _ in range(3)]

    assert counts == [1, 2, 3]
    if settings.REDIS_URL:
        # The restarted counter expires with its window.
        client = cache.client.get_client(write=True)
        assert 0 < client.ttl(cache.make_key("throttle:read:user:1:0")) <= 61


@pytest.mark.parametrize("scope", ["member", "project"])
def test_an_entry_computed_under_other_counters_is_out_of_date(scope, member):
    compute = Computed()
    caching.cached(member, "list", "p", compute)

    caching._bump([scopes_of(member)[scope]])

    assert caching.cached(member, "list", "p", compute) == {"figures": 2}
    assert caching.cached(member, "list", "p", compute) == {"figures": 2}
    assert compute.calls == 2


class CacheCalls:
    """Stands in for the cache in `tasks.caching`, recording which methods run."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.real, name)


def test_an_entry_of_a_reader_who_sees_every_task_is_out_of_date_after_any_write(manager):
    compute = Computed()
    caching.cached(manager, "list", "p", compute)

    caching._bump(["project:123456"])  # the write of any project bumps "all" with it
    assert caching.cached(manager, "list", "p", compute) == {"figures": 1}
    caching._bump(["all"])

    assert caching.cached(manager, "list", "p", compute) == {"figures": 2}
    assert compute.calls == 2


def test_a_bump_of_another_project_leaves_an_entry_current(member):
    compute = Computed()
    caching.cached(member, "list", "p", compute)

    caching._bump([f"project:{personal_project_id(member) + 1000}", "member:999999"])

    assert caching.cached(member, "list", "p", compute) == {"figures": 1}
    assert compute.calls == 1


def test_a_hit_reads_the_counters_and_the_entry_in_one_cache_call(member, monkeypatch):
    """The member's counter and the entry in one call; their project list and its
    counters in one more: on Redis one script (outside `cache`, which sees one call
    in all), in local memory a read of the list and one of its counters."""
    compute = Computed()
    caching.cached(member, "list", "p", compute)
    recorder = CacheCalls(cache)
    monkeypatch.setattr(caching, "cache", recorder)

    assert caching.cached(member, "list", "p", compute) == {"figures": 1}

    if isinstance(caches["default"], RedisCache):
        assert recorder.calls == ["get_many"]
    else:
        assert recorder.calls == ["get_many", "get", "get_many"]


def test_a_hit_of_a_reader_who_sees_every_task_is_one_cache_call(manager, monkeypatch):
    compute = Computed()
    caching.cached(manager, "list", "p", compute)
    recorder = CacheCalls(cache)
    monkeypatch.setattr(caching, "cache", recorder)

    assert caching.cached(manager, "list", "p", compute) == {"figures": 1}

    assert recorder.calls == ["get_many"]


def test_one_bump_moves_each_kind_of_counter_as_a_counter(member, caplog):
    counting, missing, corrupt = (caching._version_key(f"project:{n}") for n in (1, 2, 3))
    cache.set(counting, 41, None)
    cache.set(corrupt, "garbage", None)

    caching._bump(["project:1", "project:2", "project:3"])

    assert cache.get(counting) == 42
    # A counter starts at the time in nanoseconds, never at a small number an
    # evicted counter may already have used.
    assert cache.get(missing) > 10**18
    assert isinstance(cache.get(corrupt), int) and cache.get(corrupt) > 10**18
    assert [r.getMessage() for r in caplog.records if "not a counter" in r.getMessage()] == [
        "task cache version tasks:version:project:3 is not a counter; replaced"
    ]
