"""Events that reach a process together go to each socket together: the events of one
layer message (a bulk change) and of the messages that arrived while the fan-out was
busy, each socket's own of them in order, in one `deliver_many` (realtime.fanout);
the socket then writes them in one go (realtime.consumers, realtime.socket_protocol)."""

import asyncio
import json
from typing import Any

import pytest
from channels.layers import get_channel_layer

from realtime import fanout
from realtime.frames import text_frame
from tests.realtime.sockets import ALL_TASKS, batch_message, layer_message, loop_turns

OTHERS = "project.others"


class Socket:
    """A recipient that writes down what it is handed, in order."""

    def __init__(self, pause: float = 0.0) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.frames: list[tuple[str, bytes | None]] = []
        self.pause = pause

    async def deliver(self, event_id: int, text: str, frame: bytes | None = None) -> None:
        self.calls.append(("deliver", [event_id]))
        self.frames.append((text, frame))
        await asyncio.sleep(self.pause)

    async def deliver_many(self, events: list[tuple[int, str, bytes | None]]) -> None:
        self.calls.append(("deliver_many", [event_id for event_id, _, _ in events]))
        self.frames.extend((text, frame) for _, text, frame in events)
        await asyncio.sleep(self.pause)

    async def catch_up(self, after: int) -> None:
        self.calls.append(("catch_up", [after]))

    async def events_lost(self) -> None:
        self.calls.append(("events_lost", []))


def for_groups(message: dict[str, Any], *groups: str) -> dict[str, Any]:
    return {**message, "groups": list(groups)}


async def test_the_events_of_several_messages_go_to_each_socket_together_in_order():
    everything, others = Socket(), Socket()
    receiver = fanout.LocalFanout()
    receiver._members[ALL_TASKS] = {everything}
    receiver._members[OTHERS] = {others}

    await receiver._dispatch(
        layer_message(10),
        for_groups(layer_message(11), OTHERS, ALL_TASKS),
        batch_message(12, 13),
    )

    assert everything.calls == [("deliver_many", [10, 11, 12, 13])]
    assert others.calls == [("deliver_many", [11])]
    # Each event framed once, and the frame is its text's.
    for text, frame in everything.frames + others.frames:
        assert frame == text_frame(text)
    assert [json.loads(text)["event"] for text, _ in everything.frames] == [10, 11, 12, 13]
    assert others.frames[0] in everything.frames


async def test_one_event_alone_is_delivered_as_before():
    socket_ = Socket()
    receiver = fanout.LocalFanout()
    receiver._members[ALL_TASKS] = {socket_}

    await receiver._dispatch(layer_message(10), for_groups(layer_message(11), OTHERS))

    # The second event has no socket here: the first goes out alone.
    assert socket_.calls == [("deliver", [10])]


async def test_a_gap_in_a_batch_sends_what_came_before_it_then_catches_up():
    socket_ = Socket()
    receiver = fanout.LocalFanout()
    receiver._members[ALL_TASKS] = {socket_}

    await receiver._dispatch(
        layer_message(10, sender="web-1", number=1),
        layer_message(11, sender="web-2", number=1),
        layer_message(14, sender="web-1", number=3),  # number 2 never arrived
        layer_message(15, sender="web-1", number=4),
    )

    assert socket_.calls == [
        ("deliver_many", [10, 11]),
        ("catch_up", [10]),  # web-1's last arrival before the gap
        ("deliver_many", [14, 15]),
    ]


async def test_a_message_that_fails_drops_only_itself(monkeypatch, caplog):
    socket_ = Socket()
    receiver = fanout.LocalFanout()
    receiver._members[ALL_TASKS] = {socket_}
    checked = fanout.LocalFanout._checked

    def fails_on_11(self: fanout.LocalFanout, message: Any) -> Any:
        if message["message"]["event"] == 11:
            raise RuntimeError("a bug in handing out")
        return checked(self, message)

    monkeypatch.setattr(fanout.LocalFanout, "_checked", fails_on_11)

    await receiver._dispatch(layer_message(10), layer_message(11), layer_message(12))

    assert socket_.calls == [("deliver_many", [10, 12])]
    assert any("could not be handed out" in r.getMessage() for r in caplog.records)


async def test_one_socket_failing_keeps_the_batch_from_no_other():
    class Broken(Socket):
        async def deliver_many(self, events: list[tuple[int, str, bytes | None]]) -> None:
            raise RuntimeError("a broken socket")

    sockets = [Broken(), Socket(), Socket()]
    receiver = fanout.LocalFanout()
    receiver._members[ALL_TASKS] = set(sockets)

    await receiver._dispatch(layer_message(10), layer_message(11))

    assert [socket_.calls for socket_ in sockets[1:]] == [[("deliver_many", [10, 11])]] * 2


async def test_a_batch_leaves_a_turn_of_the_loop_every_few_sockets():
    seen: list[int] = []  # the loop's turn as each socket gets its batch

    with loop_turns() as turns:

        class Counting(Socket):
            async def deliver_many(self, events: list[tuple[int, str, bytes | None]]) -> None:
                seen.append(turns())

        receiver = fanout.LocalFanout()
        sockets = 2 * fanout.SOCKETS_PER_TURN + 1
        receiver._members[ALL_TASKS] = {Counting() for _ in range(sockets)}
        await receiver._dispatch(layer_message(10), layer_message(11))

    assert [seen.count(turn) for turn in sorted(set(seen))] == [
        fanout.SOCKETS_PER_TURN,
        fanout.SOCKETS_PER_TURN,
        1,
    ]


@pytest.mark.parametrize("limit", [3, 500])
async def test_messages_that_arrive_during_a_hand_out_go_out_together(monkeypatch, limit):
    """Through the layer in use (in memory, or channels-redis): while the first event is
    handed out, the next ones arrive and wait; they then go out in one batch, up to
    about MAX_BATCH_EVENTS events (whole messages)."""
    monkeypatch.setattr(fanout, "MAX_BATCH_EVENTS", limit)
    layer = get_channel_layer()
    socket_ = Socket(pause=0.3)
    receiver = fanout.LocalFanout()
    await receiver.join(ALL_TASKS, socket_)
    try:
        await layer.group_send(fanout.EVENTS_GROUP, layer_message(1))
        for _ in range(100):
            if socket_.calls:
                break
            await asyncio.sleep(0.01)
        await layer.group_send(fanout.EVENTS_GROUP, layer_message(2))
        await layer.group_send(fanout.EVENTS_GROUP, batch_message(3, 4))
        await layer.group_send(fanout.EVENTS_GROUP, layer_message(5))
        for _ in range(300):
            if sum(len(ids) for _, ids in socket_.calls) == 5:
                break
            await asyncio.sleep(0.01)
    finally:
        await receiver.leave(ALL_TASKS, socket_)

    if limit == 3:  # 2, then 3 and 4 (3 events): 5 waits for the next batch
        assert socket_.calls == [
            ("deliver", [1]),
            ("deliver_many", [2, 3, 4]),
            ("deliver", [5]),
        ]
    else:
        assert socket_.calls == [("deliver", [1]), ("deliver_many", [2, 3, 4, 5])]
