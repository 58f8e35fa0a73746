"""The channel layers of the settings, counting the messages they drop.

A socket that stops reading loses its own messages once its channel is full; the
drop must show in `taskmanager_channel_layer_dropped_total`, not pass in silence.
"""

import collections
import functools
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.core import BoundedQueue, RedisChannelLayer

from monitoring.metrics import CHANNEL_LAYER_DROPPED


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    """The embedded default's layer. Its `group_send` swallows `ChannelFull` per
    receiving channel; counting it where each channel's send fails shows the drop.

    When a message expires, Channels' in-memory layer also takes its channel out of
    every group, as if nobody read it any more. The only channels in groups here are
    the fan-out's, one per server process, which leave their group themselves: one
    that fell behind would stop receiving events at all (until its hourly rejoin).
    It stays in its groups; the expired event shows as a gap (tasks.fanout), as on
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
    """channels-redis drops in two places. The sockets of one process share one
    Redis list, which refuses messages past `capacity` only when the whole process
    stops reading (logged by channels-redis, counted by
    monitoring.metrics.ChannelsRedisDropCounter). Each socket then has its own
    in-process buffer of `capacity` messages, which drops its oldest message, without
    a word, when that socket stops reading: counted here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_buffer = collections.defaultdict(
            functools.partial(_CountingBoundedQueue, self.capacity)
        )
