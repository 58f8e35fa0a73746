"""The channel layers of the settings, counting the messages they drop.

A socket process whose fan-out falls behind loses messages once its channel is full;
the drop must show in `taskmanager_channel_layer_dropped_total`, not pass in silence.
"""

import asyncio
import collections
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.core import BoundedQueue, RedisChannelLayer
from channels_redis.serializers import MsgPackSerializer
from django.core.exceptions import ImproperlyConfigured
from redis import asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

from taskmanager import redis_effects
from taskmanager.metrics import CHANNEL_LAYER_DROPPED
from taskmanager.redis_breaker import BreakerConnectionPool, RedisSkipped, redis_breaker

T = TypeVar("T")

logger = logging.getLogger(__name__)

# channels-redis' group_send in one round trip (KEYS[1]: the group's key; ARGV: the
# time, the group's and the messages' expiry, the capacity, the message serialized
# as channels-redis serializes it, with an empty channel list last, less that list's
# byte, and the layer's key prefix). As the library does: members past the group's
# expiry are forgotten, messages past theirs dropped, and each receiving key (one per
# process for its "!" channels) gets the message once, listing its channels, unless
# it holds `capacity` already. Returns the members and the keys found full.
_GROUP_SEND_SCRIPT = """
local now = tonumber(ARGV[1])
local group_expiry, expiry, capacity = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, math.floor(now) - group_expiry)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local channels, keys = {}, {}
for _, channel in ipairs(members) do
  local bang = string.find(channel, '!', 1, true)
  local key = ARGV[6] .. (bang and string.sub(channel, 1, bang) or channel)
  if channels[key] == nil then
    channels[key] = {}
    table.insert(keys, key)
  end
  table.insert(channels[key], channel)
end
local full = 0
for _, key in ipairs(keys) do
  redis.call('ZREMRANGEBYSCORE', key, 0, math.floor(now) - expiry)
  if redis.call('ZCARD', key) < capacity then
    redis.call('ZADD', key, ARGV[1], ARGV[5] .. cmsgpack.pack(channels[key]))
    redis.call('EXPIRE', key, expiry)
  else
    full = full + 1
  end
end
return {#members, full}
"""
# msgpack's empty array: the last byte of a message serialized with no channels.
_EMPTY_ARRAY = b"\x90"


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    """The embedded default's layer. Its `group_send` swallows `ChannelFull` per
    receiving channel; counting it where each channel's send fails shows the drop.

    When a message expires, Channels' in-memory layer also takes its channel out of
    every group, as if nobody read it any more. The only channels in groups here are
    the fan-out's, one per server process, which leave their group themselves: one
    that fell behind would stop receiving events at all (until its hourly rejoin).
    It stays in its groups; the expired event shows as a gap (realtime.fanout), as on
    channels-redis, which keeps the members too.
    """

    def _remove_from_groups(self, channel: str) -> None:
        return

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await super().send(channel, message)
        except ChannelFull:
            CHANNEL_LAYER_DROPPED.inc()
            raise


class _CountingBoundedQueue(BoundedQueue):
    def put_nowait(self, item: Any) -> None:
        if self.full():
            CHANNEL_LAYER_DROPPED.inc()  # BoundedQueue drops the oldest message
        super().put_nowait(item)


class CountingRedisChannelLayer(RedisChannelLayer):
    """channels-redis drops in two places. The channels of one process share one Redis
    list, which refuses messages past `capacity` when the process falls behind (logged
    by channels-redis, counted by taskmanager.metrics.ChannelsRedisDropCounter). Each
    channel then has an in-process buffer of `capacity` messages, which drops its
    oldest, without a word, when that channel is not read while another one of the
    process receives: counted here. A socket process has one channel, its fan-out's
    (realtime.fanout).

    Every operation asks the process's Redis breaker first and reports a timeout to
    it, as the cache's connections do (taskmanager.redis_breaker). Sync code sends to
    a group in one round trip: `group_send_blocking` at once, or `group_send_call`
    with a write's other calls to Redis (taskmanager.redis_effects)."""

    def __init__(self, *args: Any, operation_timeout: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_buffer: collections.defaultdict[str, BoundedQueue] = collections.defaultdict(
            functools.partial(_CountingBoundedQueue, self.capacity)
        )
        # A Redis that hangs must cost a sender (a request) or the fan-out one short
        # wait, then nothing while the breaker is open (taskmanager.redis_breaker).
        self.operation_timeout = operation_timeout
        self._blocking: redis.Redis | None = None
        self._blocking_lock = threading.Lock()
        # What group_send_blocking writes as group_send would: one Redis host given
        # by its URL, one capacity for every channel, messages as plain msgpack.
        serializer = self._serializer
        if (
            self.ring_size != 1
            or "address" not in self.hosts[0]
            or self.channel_capacity
            or getattr(serializer, "crypter", None) is not None
            or type(serializer) is not MsgPackSerializer
        ):
            raise ImproperlyConfigured(
                "CountingRedisChannelLayer takes one host as {'address': URL}, no"
                " channel_capacity, no encryption keys and the msgpack serializer"
            )

    def group_send_blocking(self, group: str, message: dict[str, Any]) -> None:
        """`group_send` from sync code (a request's thread) in one round trip, on the
        layer's own pool of blocking connections: no event loop to hand the send to,
        and not the library's four round trips. The receivers read it as they read
        `group_send`'s (tests/realtime/test_blocking_group_send.py)."""
        keys, args = self._group_send_arguments(group, message)
        self._group_sent(group, self._blocking_client().eval(_GROUP_SEND_SCRIPT, 1, *keys, *args))

    def group_send_call(
        self,
        group: str,
        message: Callable[[], dict[str, Any]],
        *,
        done: Callable[[], None],
        failed: Callable[[Exception], None],
        turn: Any = None,
    ) -> redis_effects.Call:
        """`group_send_blocking` as a call for `redis_effects.send`: the message is
        made (`message()`) when the call is sent, under `turn`; an invalid group name
        fails the call (TypeError, as group_send raises)."""

        def sent(reply: Any) -> None:
            self._group_sent(group, reply)
            done()

        return redis_effects.Call(
            client=self._blocking_client,
            script=_GROUP_SEND_SCRIPT,
            arguments=lambda: self._group_send_arguments(group, message()),
            done=sent,
            failed=failed,
            turn=turn,
        )

    def _group_send_arguments(
        self, group: str, message: dict[str, Any]
    ) -> tuple[list[str], list[Any]]:
        self.require_valid_group_name(group)  # raises TypeError as group_send does
        serialized = self.serialize({**message, "__asgi_channel__": []})
        if not serialized.endswith(_EMPTY_ARRAY):
            raise ValueError("the message did not serialize as plain msgpack")
        return [self._group_key(group)], [
            time.time(),
            self.group_expiry,
            self.expiry,
            self.capacity,
            serialized[: -len(_EMPTY_ARRAY)],
            self.prefix,
        ]

    def _group_sent(self, group: str, reply: Any) -> None:
        members, full = reply
        if full:
            # Counted here: the metrics' filter counts channels-redis' own record only.
            CHANNEL_LAYER_DROPPED.inc(full)
            logger.info("%s of %s channels over capacity in group %s", full, members, group)

    def _blocking_client(self) -> redis.Redis:
        with self._blocking_lock:
            if self._blocking is None:
                host = self.hosts[0]
                pool = BreakerConnectionPool.from_url(
                    host["address"],
                    socket_connect_timeout=host.get("socket_connect_timeout"),
                    socket_timeout=self.operation_timeout,
                )
                self._blocking = redis.Redis(connection_pool=pool)
            return self._blocking

    def create_pool(self, index: int) -> Any:
        pool = super().create_pool(index)
        pool.connection_class = _CANCELLABLE[pool.connection_class]
        return pool

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._guarded(lambda: super(CountingRedisChannelLayer, self).send(channel, message))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self._guarded(
            lambda: super(CountingRedisChannelLayer, self).group_send(group, message)
        )

    async def group_add(self, group: str, channel: str) -> None:
        await self._guarded(
            lambda: super(CountingRedisChannelLayer, self).group_add(group, channel)
        )

    async def group_discard(self, group: str, channel: str) -> None:
        await self._guarded(
            lambda: super(CountingRedisChannelLayer, self).group_discard(group, channel)
        )

    async def receive(self, channel: str) -> dict[str, Any]:
        # Not bounded as a whole: it waits for a message as long as none comes. Each
        # of its blocking pops is bounded by the connection's socket timeout instead.
        return await self._guarded(
            lambda: super(CountingRedisChannelLayer, self).receive(channel), bounded=False
        )

    async def _guarded(self, operation: Callable[[], Awaitable[T]], bounded: bool = True) -> T:
        breaker = redis_breaker()
        if not breaker.allow():
            raise RedisSkipped()
        try:
            # asyncio.timeout, not wait_for: see _CancellableWrites.
            async with asyncio.timeout(self.operation_timeout if bounded else None):
                result = await operation()
        except (TimeoutError, RedisTimeoutError) as exc:
            breaker.failed(exc)
            if isinstance(exc, RedisTimeoutError):
                raise
            raise RedisTimeoutError(
                f"the channel layer did not answer within {self.operation_timeout} s"
            ) from exc
        breaker.succeeded()
        return result


class _CancellableWrites(aioredis.connection.AbstractConnection):
    """With a socket timeout, redis-py bounds each write with `asyncio.wait_for`,
    which on Python 3.11 loses a cancellation that arrives as the write completes: a
    receive cancelled then (the fan-out stopping as its last socket closes) went on
    waiting for messages for good (tests/realtime/test_channel_layer.py). The same bound
    with `asyncio.timeout` keeps the cancellation."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        bound, self.socket_timeout = self.socket_timeout, None
        try:
            async with asyncio.timeout(bound):
                await super().send_packed_command(command, check_health)
        except TimeoutError as exc:
            raise RedisTimeoutError("Timeout writing to socket") from exc
        finally:
            self.socket_timeout = bound


class _CancellableConnection(_CancellableWrites, aioredis.Connection):
    pass


class _CancellableSSLConnection(_CancellableWrites, aioredis.SSLConnection):
    pass


class _CancellableUnixDomainSocketConnection(
    _CancellableWrites, aioredis.UnixDomainSocketConnection
):
    pass


# The class the URL's scheme chose (redis://, rediss://, unix://) -> the same, fixed.
_CANCELLABLE: dict[type[Any], type[Any]] = {
    aioredis.Connection: _CancellableConnection,
    aioredis.SSLConnection: _CancellableSSLConnection,
    aioredis.UnixDomainSocketConnection: _CancellableUnixDomainSocketConnection,
}
