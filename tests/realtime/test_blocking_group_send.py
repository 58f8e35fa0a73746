"""realtime.channel_layers' group_send_blocking: channels-redis' group_send in one
round trip from sync code, read by channels-redis' own receive as if group_send had
written it (on Redis only: the embedded layer sends as it always did)."""

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import REGISTRY

from realtime import sending
from realtime.channel_layers import CountingRedisChannelLayer
from realtime.fanout import EVENT_MESSAGE_TYPE, EVENTS_GROUP
from taskmanager import redis_breaker
from tests.realtime.sockets import layer_message

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL, reason="the Redis channel layer is configured with REDIS_URL"
)

GROUP = EVENTS_GROUP
MESSAGE = {
    "type": EVENT_MESSAGE_TYPE,
    "groups": ["tasks.all"],
    "message": {"event": 7, "task": {"id": 1, "title": "Ünïcode ✓"}, "changes": None},
    "sender": "host:1:abcd",
    "number": 3,
}


def dropped() -> float:
    return REGISTRY.get_sample_value("taskmanager_channel_layer_dropped_total") or 0.0


def new_layer(**config: Any) -> CountingRedisChannelLayer:
    return CountingRedisChannelLayer(
        hosts=[settings.REDIS_URL], prefix=f"test-blocking-{uuid.uuid4().hex}", **config
    )


@pytest.fixture
async def layer() -> AsyncIterator[CountingRedisChannelLayer]:
    made = new_layer(capacity=3, expiry=60)
    yield made
    await made.flush()
    await made.close_pools()


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(settings.REDIS_URL) as connection:
        yield connection


async def members(layer: CountingRedisChannelLayer, *names: str) -> list[str]:
    """These, or two channels of one process, one of another, one general channel."""
    names = names or ("specific.one!a", "specific.one!b", "specific.two!c", "plain.channel")
    for name in names:
        await layer.group_add(GROUP, name)
    return list(names)


def stored(client: redis.Redis, layer: CountingRedisChannelLayer) -> dict[str, list[Any]]:
    """What waits under each key of the layer but its groups, deserialized, with the
    key's own prefix taken off."""
    found = {}
    for key in client.scan_iter(match=f"{layer.prefix}*"):
        name = key.decode()
        if name.startswith(f"{layer.prefix}:group:"):
            continue
        found[name[len(layer.prefix) :]] = [
            layer.deserialize(member) for member in client.zrange(key, 0, -1)
        ]
    return found


async def test_it_stores_what_group_send_stores(client):
    library, blocking = new_layer(), new_layer()
    try:
        for one in (library, blocking):
            await members(one)
        await library.group_send(GROUP, MESSAGE)
        await sync_to_async(blocking.group_send_blocking)(GROUP, MESSAGE)

        written = stored(client, blocking)
        assert written == stored(client, library)
        assert written == {
            "specific.one!": [
                {**MESSAGE, "__asgi_channel__": ["specific.one!a", "specific.one!b"]}
            ],
            "specific.two!": [{**MESSAGE, "__asgi_channel__": ["specific.two!c"]}],
            "plain.channel": [{**MESSAGE, "__asgi_channel__": ["plain.channel"]}],
        }
        for key in written:
            ttl = client.ttl(f"{blocking.prefix}{key}")
            assert 0 < ttl <= blocking.expiry
    finally:
        for one in (library, blocking):
            await one.flush()
            await one.close_pools()


async def test_each_member_receives_the_message_through_the_librarys_receive(layer):
    # The layer's own process: two channels; and a general channel.
    own = [await layer.new_channel(), await layer.new_channel()]
    names = await members(layer, *own, "specific.other!c", "plain.channel")
    names.remove("specific.other!c")  # another process's: not this layer's to read

    await sync_to_async(layer.group_send_blocking)(GROUP, MESSAGE)

    for name in names:
        assert await layer.receive(name) == MESSAGE


async def test_two_sends_are_two_messages_in_their_order(layer):
    (name,) = await members(layer, await layer.new_channel())

    await sync_to_async(layer.group_send_blocking)(GROUP, {**MESSAGE, "number": 1})
    await sync_to_async(layer.group_send_blocking)(GROUP, {**MESSAGE, "number": 2})

    assert (await layer.receive(name))["number"] == 1
    assert (await layer.receive(name))["number"] == 2


async def test_a_member_past_the_group_expiry_is_forgotten_and_sent_nothing(layer, client):
    await layer.group_add(GROUP, "specific.live!a")
    group_key = layer._group_key(GROUP)
    client.zadd(group_key, {"specific.gone!b": time.time() - layer.group_expiry - 10})

    await sync_to_async(layer.group_send_blocking)(GROUP, MESSAGE)

    assert client.zrange(group_key, 0, -1) == [b"specific.live!a"]
    assert list(stored(client, layer)) == ["specific.live!"]


async def test_messages_past_their_expiry_are_dropped_and_free_the_capacity(layer, client):
    await layer.group_add(GROUP, "specific.one!a")
    key = f"{layer.prefix}specific.one!"
    old = time.time() - layer.expiry - 10
    client.zadd(key, {f"expired {n}".encode(): old for n in range(layer.capacity)})
    before = dropped()

    await sync_to_async(layer.group_send_blocking)(GROUP, MESSAGE)

    assert stored(client, layer) == {
        "specific.one!": [{**MESSAGE, "__asgi_channel__": ["specific.one!a"]}]
    }
    assert dropped() == before


async def test_a_full_process_key_gets_nothing_and_the_drop_is_counted_and_logged(
    layer, client, caplog
):
    free = await layer.new_channel()
    await members(layer, "specific.full!a", free)
    full_key = f"{layer.prefix}specific.full!"
    client.zadd(full_key, {f"waiting {n}".encode(): time.time() for n in range(layer.capacity)})
    before = dropped()
    caplog.set_level(logging.INFO, logger="realtime.channel_layers")

    await sync_to_async(layer.group_send_blocking)(GROUP, MESSAGE)

    assert client.zcard(full_key) == layer.capacity
    assert await layer.receive(free) == MESSAGE
    assert dropped() == before + 1
    assert [r.getMessage() for r in caplog.records] == [
        f"1 of 2 channels over capacity in group {GROUP}"
    ]


async def test_a_group_with_no_members_is_sent_nothing(layer, client):
    await sync_to_async(layer.group_send_blocking)(GROUP, MESSAGE)

    assert stored(client, layer) == {}


def test_an_invalid_group_name_is_refused_as_group_send_refuses_it():
    layer = new_layer()

    with pytest.raises(TypeError):
        layer.group_send_blocking("not a group name!", MESSAGE)


@pytest.mark.parametrize(
    "config",
    [
        {"hosts": ["redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1"]},
        {"hosts": [("127.0.0.1", 6379)]},
        {"channel_capacity": {"specific.*": 10}},
        {"symmetric_encryption_keys": ["a secret of the test's"]},
        {"serializer_format": "json"},
    ],
    ids=["two hosts", "host and port", "channel capacities", "encrypted", "json"],
)
def test_a_configuration_it_would_write_differently_for_is_refused(config):
    with pytest.raises(ImproperlyConfigured):
        CountingRedisChannelLayer(**config)


def test_sends_from_threads_reach_the_layer_in_the_order_of_their_numbers(monkeypatch):
    """Threads of a gthread worker or of daphne's pool send at once; a slow first send
    must not let a later number reach Redis before it."""
    layer = get_channel_layer()
    arrived: list[int] = []
    first = sending._numbering.next()[1] + 1
    arguments = layer._group_send_arguments

    def first_one_slow(group: str, message: dict[str, Any]) -> tuple[list[str], list[Any]]:
        if message["number"] == first:
            time.sleep(0.05)
        arrived.append(message["number"])
        return arguments(group, message)

    monkeypatch.setattr(layer, "_group_send_arguments", first_one_slow)
    threads = [
        threading.Thread(target=sending.send, args=([layer_message(100 + n)],)) for n in range(5)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.005)  # the first takes its number first
    for thread in threads:
        thread.join(5)

    assert arrived == list(range(first, first + 5))


def test_a_send_skipped_by_the_breaker_still_uses_its_number(caplog):
    # The receivers' lost-event detection counts on it: the next event that arrives
    # shows the gap, and the sockets catch up from the outbox.
    breaker = redis_breaker.redis_breaker()
    _, before = sending._numbering.next()
    failures = REGISTRY.get_sample_value("taskmanager_task_event_send_failures_total") or 0.0
    breaker.failed(redis.TimeoutError("Timeout reading from socket"))
    try:
        with caplog.at_level(logging.WARNING, logger="realtime.sending"):
            sending.send([layer_message(1)])
    finally:
        breaker.succeeded()

    assert sending._numbering.next()[1] == before + 2
    assert REGISTRY.get_sample_value("taskmanager_task_event_send_failures_total") == failures + 1
    assert "RedisSkipped" in caplog.text
