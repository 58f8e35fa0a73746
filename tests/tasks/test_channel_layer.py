"""The production channel layer (channels-redis) with the pinned redis-py."""

import asyncio
import os
import time

import pytest
from channels.layers import get_channel_layer

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (channels-redis)"
)


async def test_a_receive_cancelled_while_it_waits_ends_at_once():
    """Every socket that closes cancels its consumer's pending receive. redis-py 8.0
    and 8.1 turned some of those cancellations into a 5 s hang ending in a
    TimeoutError, depending on how far the receive had got; try each moment."""
    layer = get_channel_layer()
    slowest = 0.0
    for turns in range(0, 40):
        channel = await layer.new_channel()
        receive = asyncio.ensure_future(layer.receive(channel))
        for _ in range(turns):
            await asyncio.sleep(0)
        receive.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await receive
        slowest = max(slowest, time.monotonic() - started)
    await layer.flush()

    assert slowest < 1.0, f"a cancelled receive took {slowest:.1f} s"
