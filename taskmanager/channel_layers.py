from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from monitoring.metrics import CHANNEL_LAYER_DROPPED


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    """The embedded default's layer, counting what it drops.

    `group_send` of the in-memory layer swallows `ChannelFull` per receiving
    channel; counting it here, where each channel's send fails, makes the drop
    visible in the same metric as the Redis layer's.
    """

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await super().send(channel, message)
        except ChannelFull:
            CHANNEL_LAYER_DROPPED.inc()
            raise
