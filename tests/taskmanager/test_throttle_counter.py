"""The fixed-window counter: atomic, shared through the cache, one round trip on Redis."""

import pytest
from django.conf import settings
from django.core.cache import cache

from taskmanager.throttles import FixedWindowThrottle

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="Redis round trips")


def test_each_count_is_one_round_trip_with_the_window_as_expiry(redis_packets):
    sent = redis_packets

    counts = [FixedWindowThrottle._increment("round-trips", 60) for _ in range(3)]

    assert counts == [1, 2, 3]
    assert len(sent) == 3  # one packed INCR + EXPIRE NX pipeline per count
    assert all(b"INCRBY" in packet and b"EXPIRE" in packet for packet in sent)
    client = cache.client.get_client(write=True)
    assert 0 < client.ttl(cache.make_key("round-trips")) <= 61


def test_the_counter_survives_a_missing_key_between_windows():
    assert FixedWindowThrottle._increment("fresh-window", 60) == 1
    cache.delete("fresh-window")
    assert FixedWindowThrottle._increment("fresh-window", 60) == 1
