"""Cache entries the task caches and throttles did not write: a value of the wrong
shape is a miss, a counter that is not a number is replaced and counts on.

tests/security/test_api10_unsafe_consumption.py checks the API answers (no 500, no
garbage served, no frozen list); these check what is left in the cache afterwards.
"""

from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache

from taskmanager.throttles import FixedWindowThrottle
from tasks import caching

pytestmark = pytest.mark.django_db

CORRUPT = ["garbage", [1], 1.5, {"count": 1}]


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
    "value", [*CORRUPT, {"figures": 7}, {"format": 99, "value": 1}, {"format": 1, "value": 1}]
)
def test_a_value_the_cache_did_not_store_is_a_miss_and_is_overwritten(value, member):
    cache.set(key_of(member, "list", "p"), value, 60)
    compute = Computed()

    assert caching.cached(member, "list", "p", compute) == {"figures": 1}
    assert caching.cached(member, "list", "p", compute) == {"figures": 1}
    assert compute.calls == 1, "the recomputed value was stored and then served"


@pytest.mark.parametrize("value", CORRUPT)
def test_a_corrupt_version_counter_is_replaced_by_a_number(value, member):
    key = caching._version_key(f"user:{member.pk}")
    cache.set(key, value, None)

    version = caching._versions(member)

    assert isinstance(cache.get(key), int)
    assert version == str(cache.get(key))


@pytest.mark.parametrize("value", CORRUPT)
def test_a_bump_of_a_corrupt_counter_still_moves_the_version(value, member):
    key = caching._version_key(f"user:{member.pk}")
    cache.set(key, value, None)

    caching._bump([f"user:{member.pk}"])

    bumped = cache.get(key)
    assert isinstance(bumped, int)
    assert bumped != value
    # And it bumps as a counter from then on.
    caching._bump([f"user:{member.pk}"])
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


def test_an_entry_computed_under_other_counters_is_out_of_date(member):
    compute = Computed()
    caching.cached(member, "list", "p", compute)

    caching._bump([f"user:{member.pk}"])

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


def test_a_hit_reads_the_counters_and_the_entry_in_one_cache_call(member, monkeypatch):
    compute = Computed()
    caching.cached(member, "list", "p", compute)
    recorder = CacheCalls(cache)
    monkeypatch.setattr(caching, "cache", recorder)

    assert caching.cached(member, "list", "p", compute) == {"figures": 1}

    assert recorder.calls == ["get_many"]


def test_one_bump_moves_each_kind_of_counter_as_a_counter(member, caplog):
    counting, missing, corrupt = (caching._version_key(f"user:{n}") for n in (1, 2, 3))
    cache.set(counting, 41, None)
    cache.set(corrupt, "garbage", None)

    caching._bump(["user:1", "user:2", "user:3"])

    assert cache.get(counting) == 42
    # A counter starts at the time in nanoseconds, never at a small number an
    # evicted counter may already have used.
    assert cache.get(missing) > 10**18
    assert isinstance(cache.get(corrupt), int) and cache.get(corrupt) > 10**18
    assert [r.getMessage() for r in caplog.records if "not a counter" in r.getMessage()] == [
        "task cache version tasks:version:user:3 is not a counter; replaced"
    ]
