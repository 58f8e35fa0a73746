"""The Redis circuit breaker: after a timeout a process skips Redis for a while, then
lets one caller try it again (taskmanager.redis_breaker).

The hanging Redis here is a listening socket that never accepts: the kernel completes
the connection, and nothing is ever answered, as with a Redis that hangs.
"""

import asyncio
import logging
import socket
import time
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from redis.exceptions import TimeoutError as RedisTimeoutError

from realtime import sending
from realtime.channel_layers import CountingRedisChannelLayer
from realtime.fanout import EVENT_MESSAGE_TYPE, EVENTS_GROUP
from taskmanager import redis_breaker
from taskmanager.metrics import REDIS_BREAKER_OPENED
from taskmanager.redis_breaker import BreakerConnectionPool, CircuitBreaker, RedisSkipped


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("Redis", open_seconds=5, clock=clock)


def test_a_closed_breaker_lets_every_call_through(breaker):
    assert all(breaker.allow() for _ in range(10))
    assert not breaker.is_open


def test_a_failure_opens_the_breaker_and_calls_are_skipped_while_open(breaker, clock):
    breaker.failed(RedisTimeoutError("Timeout reading from socket"))

    assert breaker.is_open
    assert not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()


def test_after_the_period_one_caller_tries_again_and_the_others_still_skip(breaker, clock):
    breaker.failed(RedisTimeoutError("Timeout reading from socket"))
    clock.now += 5

    assert breaker.allow()  # the one trial
    assert not breaker.allow()
    assert not breaker.allow()


def test_a_trial_that_succeeds_closes_the_breaker(breaker, clock):
    breaker.failed(RedisTimeoutError("Timeout reading from socket"))
    clock.now += 5
    assert breaker.allow()

    breaker.succeeded()

    assert not breaker.is_open
    assert all(breaker.allow() for _ in range(3))


def test_a_trial_that_fails_opens_the_breaker_for_another_period(breaker, clock):
    breaker.failed(RedisTimeoutError("Timeout reading from socket"))
    clock.now += 5
    assert breaker.allow()

    breaker.failed(RedisTimeoutError("Timeout reading from socket"))

    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_trial_that_never_reports_lets_another_caller_try_a_period_later(breaker, clock):
    breaker.failed(RedisTimeoutError("Timeout reading from socket"))
    clock.now += 5
    assert breaker.allow()  # cancelled: neither succeeded nor failed

    clock.now += 5

    assert breaker.allow()


def test_the_opening_is_logged_and_counted_once_not_per_call(breaker, clock, caplog):
    opened = REDIS_BREAKER_OPENED._value.get()
    with caplog.at_level(logging.INFO, logger="taskmanager.redis_breaker"):
        for _ in range(5):
            breaker.failed(RedisTimeoutError("Timeout reading from socket"))
            breaker.allow()
        breaker.succeeded()
        breaker.succeeded()

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "skipped for 5 s" in messages[0]
    assert "answers again" in messages[1]
    assert REDIS_BREAKER_OPENED._value.get() == opened + 1


# The breaker in the connections of the cache and of the channel layer.


@pytest.fixture
def process_breaker(clock: Clock) -> Iterator[CircuitBreaker]:
    """A fresh breaker for the process, as after start-up; the process's own again
    before the test's cache is cleared."""
    fresh = CircuitBreaker("Redis", open_seconds=60, clock=clock)
    previous, redis_breaker._breaker = redis_breaker._breaker, fresh
    yield fresh
    redis_breaker._breaker = previous


@pytest.fixture
def hanging_redis() -> Iterator[str]:
    """The URL of a server that takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_a_hanging_redis_costs_the_cache_one_timeout_then_nothing(process_breaker, hanging_redis):
    pool = BreakerConnectionPool.from_url(
        hanging_redis, socket_connect_timeout=0.2, socket_timeout=0.2
    )
    client = redis.Redis(connection_pool=pool)

    started = time.monotonic()
    with pytest.raises(RedisTimeoutError):
        client.get("key")
    first = time.monotonic() - started
    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(RedisSkipped):
            client.pipeline().incr("key").expire("key", 60).execute()
    skipped = time.monotonic() - started

    assert first >= 0.2
    assert process_breaker.is_open
    assert skipped < 0.2  # twenty calls, less than one timeout in all


def test_a_redis_that_answers_closes_the_cache_breaker_again(process_breaker, clock):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    pool = BreakerConnectionPool.from_url(settings.REDIS_URL, socket_timeout=1)
    client = redis.Redis(connection_pool=pool)
    process_breaker.failed(RedisTimeoutError("Timeout reading from socket"))
    with pytest.raises(RedisSkipped):
        client.ping()
    clock.now += 60  # the period is over: the next call tries

    assert client.ping() is True
    assert not process_breaker.is_open


def test_a_refused_connection_does_not_open_the_breaker(process_breaker):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = redis.Redis(
        connection_pool=BreakerConnectionPool.from_url(f"redis://127.0.0.1:{port}")
    )

    for _ in range(3):
        with pytest.raises(redis.ConnectionError) as raised:
            client.get("key")
        assert not isinstance(raised.value, RedisSkipped)

    assert not process_breaker.is_open


async def test_a_hanging_redis_costs_the_channel_layer_one_timeout_then_nothing(
    process_breaker, hanging_redis
):
    layer = CountingRedisChannelLayer(
        hosts=[{"address": hanging_redis, "socket_connect_timeout": 0.2, "socket_timeout": 5.2}],
        operation_timeout=0.3,
    )
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await layer.group_send(EVENTS_GROUP, {"type": EVENT_MESSAGE_TYPE})
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(RedisSkipped):
                await layer.group_add(EVENTS_GROUP, "specific.x!y")
        with pytest.raises(RedisSkipped):
            await layer.receive(await layer.new_channel())
        skipped = time.monotonic() - started
    finally:
        await layer.close_pools()

    assert 0.3 <= first < 2
    assert skipped < 0.3


async def test_a_receive_from_a_hanging_redis_fails_after_its_blocking_pop_not_never(
    process_breaker, hanging_redis, monkeypatch
):
    # channels-redis' blocking pop, shortened so the test is quick; the socket timeout
    # is that plus a read, as in the settings.
    monkeypatch.setattr(CountingRedisChannelLayer, "brpop_timeout", 0.2)
    layer = CountingRedisChannelLayer(
        hosts=[{"address": hanging_redis, "socket_timeout": 0.2 + 0.3}], operation_timeout=0.3
    )
    try:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(layer.receive(await layer.new_channel()), 5)
    finally:
        await layer.close_pools()

    assert process_breaker.is_open


def test_the_layer_reads_outlast_its_blocking_pop():
    if not settings.REDIS_URL:
        pytest.skip("the Redis channel layer is configured with REDIS_URL")
    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]

    assert host["socket_timeout"] > CountingRedisChannelLayer.brpop_timeout


async def test_an_event_skipped_by_the_breaker_still_uses_its_number(process_breaker, monkeypatch):
    # The receivers' lost-event detection counts on it: the next event that arrives
    # shows the gap, and the sockets catch up from the outbox.
    layer = CountingRedisChannelLayer(hosts=["redis://127.0.0.1:1/0"])
    monkeypatch.setattr(sending, "channel_layer", lambda: layer)
    process_breaker.failed(RedisTimeoutError("Timeout reading from socket"))
    _, before = sending._numbering.next()

    with pytest.raises(RedisSkipped):
        await sending._group_send({"type": EVENT_MESSAGE_TYPE, "groups": [], "message": {}})

    assert sending._numbering.next()[1] == before + 2


def _record(message: str, args: tuple[object, ...] = (), exc: BaseException | None = None):
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("x", logging.WARNING, __file__, 1, message, args, exc_info)


def test_the_fallbacks_of_skipped_calls_are_not_logged_but_real_faults_are():
    quiet = redis_breaker.SkippedCallsFilter()
    try:
        try:
            raise RedisSkipped()
        except RedisSkipped as skipped:
            raise ConnectionError("django-redis' wrapper") from skipped
    except ConnectionError as wrapped:
        skipped_in_a_wrapper = wrapped

    assert not quiet.filter(_record("Exception ignored", exc=skipped_in_a_wrapper))
    assert not quiet.filter(_record("event %s not sent (%r)", (3, RedisSkipped())))
    assert quiet.filter(_record("Exception ignored", exc=RedisTimeoutError("Timeout")))
    assert quiet.filter(_record("event %s not sent (%r)", (3, redis.ConnectionError("refused"))))
    assert quiet.filter(_record("plain"))
