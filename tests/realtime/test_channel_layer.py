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


async def test_a_process_that_stops_and_starts_receiving_keeps_no_dead_buffers():
    """The fan-out stops receiving when its last socket leaves; messages already on
    their way are pulled later by the next receive. Under a new channel name they
    would sit in channels-redis's buffer for good; the fan-out keeps its name."""
    from realtime import fanout

    layer = get_channel_layer()

    class SlowSocket:
        async def deliver(self, event_id: int, text: str, frame: bytes | None = None) -> None:
            await asyncio.sleep(0.2)

        async def deliver_many(self, events: list[tuple[int, str, bytes | None]]) -> None:
            await asyncio.sleep(0.2)

        async def events_lost(self) -> None:
            return None

    def event(number: int) -> dict[str, object]:
        return {
            "type": fanout.EVENT_MESSAGE_TYPE,
            "groups": ["tasks.all"],
            "message": {
                **dict.fromkeys(fanout.EVENT_FIELDS),
                "type": "task.created",
                "event": number,
                "task": {},
                "changes": {},
            },
        }

    receiver = fanout.LocalFanout()
    number = 0
    for _ in range(4):
        socket = SlowSocket()
        await receiver.join("tasks.all", socket)
        for _ in range(3):
            number += 1
            await layer.group_send(fanout.EVENTS_GROUP, event(number))
        await asyncio.sleep(0.1)  # the first is being handed out, two wait
        await receiver.leave("tasks.all", socket)
    socket = SlowSocket()
    await receiver.join("tasks.all", socket)
    await asyncio.sleep(1.0)
    await receiver.leave("tasks.all", socket)
    await asyncio.sleep(0.3)

    assert set(layer.receive_buffer) <= {receiver._name[1]}
