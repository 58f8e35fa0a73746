"""On Redis a warm authenticated request reads ahead: the session, the user, the
throttle's counter and the view's first cache reads in one round trip."""

import gc
import weakref
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts import auth_cache
from taskmanager import readahead, throttles
from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, claims, task_url
from tests.tasks.helpers import STATS_URL, list_ids

pytestmark = pytest.mark.django_db
on_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="Redis round trips")


@on_redis
def test_a_warm_cached_list_is_one_round_trip(member, member_client, redis_packets):
    TaskFactory.create_batch(3, owner=member)
    first = member_client.get(TASKS_URL)
    assert first.status_code == 200
    redis_packets.clear()

    again = member_client.get(TASKS_URL)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(redis_packets) == 1, redis_packets
    assert all(command in redis_packets[0] for command in (b"MGET", b"INCRBY", b"EXPIRE"))
    assert int(again["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1


@on_redis
def test_warm_statistics_are_one_round_trip(member, member_client, redis_packets):
    TaskFactory.create_batch(2, owner=member)
    assert member_client.get(STATS_URL).status_code == 200
    redis_packets.clear()

    assert member_client.get(STATS_URL).json()["total"] == 2
    assert len(redis_packets) == 1, redis_packets


@on_redis
def test_a_warm_detail_reads_the_session_and_counts_in_one_round_trip(
    member, member_client, redis_packets
):
    task = TaskFactory(owner=member)
    assert member_client.get(task_url(task)).status_code == 200
    redis_packets.clear()

    assert member_client.get(task_url(task)).status_code == 200
    assert len(redis_packets) == 1, redis_packets  # the task itself is cached too (issue 26)


@on_redis
def test_a_list_page_missing_its_entry_reads_its_counts_ahead(member, member_client, redis_packets):
    TaskFactory.create_batch(3, owner=member)
    assert member_client.get(TASKS_URL, {"limit": 2}).json()["count"] == 3
    redis_packets.clear()

    with CaptureQueriesContext(connection) as queries:
        other_page = member_client.get(TASKS_URL, {"limit": 2, "offset": 2})

    assert other_page.json()["count"] == 3
    assert len(other_page.json()["results"]) == 1
    # The read ahead (with the project's count), then the new page's entry kept.
    assert len(redis_packets) == 2, redis_packets
    assert (
        redis_packets[1].startswith(b"*")
        and b"SET" in redis_packets[1]
        and b"MGET" not in redis_packets[1]
    )
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


@on_redis
def test_a_cached_page_decodes_none_of_the_counts_read_ahead(member, member_client, monkeypatch):
    # The projects' counts come with every read ahead for a page that misses its
    # entry; a hit leaves them undecoded (a member of 20 projects decoded 20 a page).
    TaskFactory.create_batch(3, owner=member)
    assert member_client.get(TASKS_URL, {"limit": 2}).json()["count"] == 3
    client = caches["default"].client
    decode = client.decode
    decoded: list[Any] = []

    def record(value: Any) -> Any:
        decoded.append(decode(value))
        return decoded[-1]

    monkeypatch.setattr(client, "decode", record)

    assert member_client.get(TASKS_URL, {"limit": 2}).json()["count"] == 3
    on_a_hit = [value for value in decoded if isinstance(value, tuple)]
    decoded.clear()
    assert member_client.get(TASKS_URL, {"limit": 2, "offset": 2}).json()["count"] == 3
    on_a_miss = [value for value in decoded if isinstance(value, tuple)]

    assert on_a_hit == []
    assert len(on_a_miss) == 1  # the member's one project's (version, count)


@on_redis
def test_a_write_is_seen_through_the_read_ahead(member, member_client, committed):
    task = TaskFactory(owner=member)
    assert list_ids(member_client) == [task.pk]

    with committed():
        created = member_client.post(TASKS_URL, {"title": "Second"}, format="json")
    assert created.status_code == 201

    assert sorted(list_ids(member_client)) == sorted([task.pk, created.json()["id"]])


@on_redis
def test_the_throttle_still_refuses_past_its_rate(member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "3/min"}
    remaining = [member_client.get(TASKS_URL)["X-RateLimit-Remaining"] for _ in range(3)]

    refused = member_client.get(TASKS_URL)

    assert remaining == ["2", "1", "0"]
    assert refused.status_code == 429


@on_redis
def test_a_token_of_an_ended_session_does_not_spend_its_users_allowance(
    member, client_for, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "3/min"}
    ended, live = client_for(member), client_for(member)
    assert ended.post("/api/v1/auth/logout/").status_code == 204

    refused = [ended.get(TASKS_URL).status_code for _ in range(5)]
    remaining = [live.get(TASKS_URL)["X-RateLimit-Remaining"] for _ in range(3)]

    assert refused == [401] * 5
    assert remaining == ["2", "1", "0"]


@on_redis
def test_a_redis_fault_reading_ahead_leaves_each_reader_to_ask_itself(
    member, member_client, monkeypatch
):
    TaskFactory.create_batch(2, owner=member)
    before = member_client.get(TASKS_URL)
    assert before.status_code == 200

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("down for this request")

    monkeypatch.setattr(readahead, "_send", fail)
    response = member_client.get(TASKS_URL)

    assert response.status_code == 200
    assert response.json()["count"] == 2
    # Counted by the throttle itself.
    assert int(response["X-RateLimit-Remaining"]) == int(before["X-RateLimit-Remaining"]) - 1


@on_redis
def test_a_counter_that_is_no_integer_is_restarted_by_the_throttle(member, member_client):
    assert member_client.get(TASKS_URL).status_code == 200
    counter = throttles.ReadWriteThrottle.counter_for(
        Request(APIRequestFactory().get(TASKS_URL)), member.pk
    )
    assert counter is not None
    cache.set(counter.key, "not a number")

    response = member_client.get(TASKS_URL)

    assert response.status_code == 200
    assert cache.get(counter.key) == 1


@on_redis
def test_with_the_read_ahead_off_each_reader_asks_for_itself(
    member, member_client, redis_packets, settings
):
    TaskFactory.create_batch(3, owner=member)
    first = member_client.get(TASKS_URL)
    settings.READ_AHEAD = False
    redis_packets.clear()

    again = member_client.get(TASKS_URL)

    assert again.json() == first.json()
    # The session and user entries, the throttle's counter, the list's entry and
    # counter, the reader's projects with their counters (one script).
    assert len(redis_packets) == 4, redis_packets
    assert b"EVAL" in redis_packets[-1]
    assert int(again["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1


@on_redis
def test_what_a_request_read_ahead_is_kept_for_that_request_alone(member_client):
    token = claims(member_client.tokens["access"])
    keys = auth_cache.entry_keys(token["user_id"], token["sid"])

    first, second = member_client.get(TASKS_URL), member_client.get(TASKS_URL)

    assert readahead.get_many(first.wsgi_request, keys) is not None
    assert readahead.get_many(second.wsgi_request, keys) is not None
    assert readahead.get_many(HttpRequest(), keys) is None
    assert not hasattr(first.wsgi_request, "read_ahead")


def test_a_read_ahead_goes_with_its_request() -> None:
    request = HttpRequest()
    readahead._read[request] = readahead._ReadAhead({"a": 1}, ["a"], {"b": 2})
    assert readahead.get_many(Request(request), ["a"]) == {"a": 1}
    assert readahead.counted(request, "b") == 2
    gone = weakref.ref(request)

    del request
    gc.collect()

    assert gone() is None


def test_a_count_read_ahead_for_another_window_is_not_reported() -> None:
    ahead = readahead._ReadAhead({}, [], {"throttle:read:user:1:0": 5})

    assert ahead.counted("throttle:read:user:1:60") is None
    assert ahead.counted("throttle:read:user:1:0") == 5


def test_keys_not_read_ahead_are_not_answered() -> None:
    ahead = readahead._ReadAhead({"a": 1}, ["a", "b"], {})

    assert ahead.get_many(["a", "b"]) == {"a": 1}
    assert ahead.get_many(["a", "c"]) is None


@pytest.mark.skipif(bool(django_settings.REDIS_URL), reason="the local-memory cache")
def test_without_redis_nothing_is_read_ahead() -> None:
    request = Request(APIRequestFactory().get(TASKS_URL))

    assert readahead.start(request, 1, ["a"]) is None
    assert readahead.get_many(request, ["a"]) is None
