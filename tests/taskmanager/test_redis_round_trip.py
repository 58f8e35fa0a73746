"""taskmanager.redis_round_trip: commands in one packet, each reply in its place, a
connection that failed midway never handed out again (on Redis only)."""

import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from taskmanager.redis_breaker import BreakerConnectionPool, RedisSkipped, redis_breaker
from taskmanager.redis_round_trip import round_trip
from tests.helpers import commands

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="Redis round trips")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(settings.REDIS_URL) as made:
        yield made


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    made = f"test-round-trip:{uuid.uuid4().hex}"
    yield made
    client.delete(made, f"{made}:text")


def test_the_commands_go_in_one_packet_and_reply_in_their_order(client, key, redis_packets):
    client.set(f"{key}:text", "hello")
    redis_packets.clear()

    replies = round_trip(
        client,
        [
            ("MGET", f"{key}:text", f"{key}:none"),
            ("INCR", key),
            ("EXPIRE", key, 60, "NX"),
            ("EXPIRE", key, 60, "NX"),
        ],
    )

    assert replies == [[b"hello", None], 1, 1, 0]
    assert len(redis_packets) == 1
    assert [command[0] for command in commands(redis_packets[0])] == [
        b"MGET",
        b"INCR",
        b"EXPIRE",
        b"EXPIRE",
    ]


def test_a_refused_command_has_its_error_in_its_place_and_the_others_their_replies(client, key):
    client.set(f"{key}:text", "not a number")

    replies = round_trip(
        client,
        [
            ("INCR", f"{key}:text"),
            ("EVALSHA", "0" * 40, 0),
            ("INCR", key),
        ],
    )

    assert isinstance(replies[0], ResponseError)
    assert isinstance(replies[1], NoScriptError)
    assert replies[2] == 1
    # The connection is clean for whoever takes it next.
    assert round_trip(client, [("GET", f"{key}:text")]) == [b"not a number"]


def test_no_commands_no_round_trip(client, redis_packets):
    redis_packets.clear()

    assert round_trip(client, []) == []
    assert redis_packets == []


def test_a_connection_that_failed_midway_is_dropped_not_handed_out_with_unread_replies(
    client, key, monkeypatch
):
    """The second reply's read fails: the third is still on the socket. Handed out
    as it was, the next caller would read that reply for its own command."""
    client.set(f"{key}:text", "stale")
    read = Connection.read_response
    reads = {"count": 0}

    def failing_second(connection, *args, **kwargs):
        reads["count"] += 1
        if reads["count"] == 2:
            raise RedisConnectionError("Connection reset by peer")
        return read(connection, *args, **kwargs)

    with monkeypatch.context() as failing:
        failing.setattr(Connection, "read_response", failing_second)
        with pytest.raises(RedisError):
            round_trip(client, [("PING",), ("PING",), ("GET", f"{key}:text")])
    pool = client.connection_pool
    assert not pool._in_use_connections  # given back, even so

    assert round_trip(client, [("INCR", key)]) == [1]


def test_the_breaker_is_asked_first(monkeypatch):
    """Through the application's pool: an open breaker skips Redis at once."""
    backend = caches["default"]
    pool = backend.client.get_client(write=True).connection_pool
    assert isinstance(pool, BreakerConnectionPool)
    monkeypatch.setattr(redis_breaker(), "allow", lambda: False)

    with pytest.raises(RedisSkipped):
        round_trip(backend.client.get_client(write=True), [("PING",)])
