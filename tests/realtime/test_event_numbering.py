"""Each process numbers the task events it sends (realtime.sending); a process whose
sockets receive them (realtime.fanout) notices a number that never arrives and sends its
sockets what they may see since that sender's last event that did, from the outbox
(or closes them with 4503 to resume when that is too much), so no client misses an
event without knowing.

channels-redis forgets a message that waited past its expiry (a process more than a
minute behind) or found the receiving channel full, without a word to anyone."""

import asyncio
import logging
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from prometheus_client import REGISTRY

from realtime import consumers, fanout, sending
from tasks.services import task_create
from tests.realtime.sockets import (
    TIMEOUT,
    assert_all_silent,
    batch_message,
    layer_message,
    on_layer_sends,
    open_sockets,
    receive,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

in_thread = database_sync_to_async


def missed_total() -> float:
    return REGISTRY.get_sample_value("taskmanager_task_events_missed_total") or 0.0


async def events_on(ws: Any, count: int) -> set[int]:
    """The ids of the next `count` events on the socket, then nothing more."""
    received = {(await receive(ws))["event"] for _ in range(count)}
    await assert_all_silent(ws)
    return received


def losing(monkeypatch: pytest.MonkeyPatch, *lost: int) -> None:
    """The layer loses these sends (1 is the first), as an expired message is lost."""
    calls = 0

    def arrives(group: str, message: dict[str, Any]) -> bool:
        nonlocal calls
        calls += 1
        return calls not in lost

    on_layer_sends(monkeypatch, arrives)


def event_ids(*tasks: Any) -> set[int]:
    from activity.models import Event

    ids = [task.pk for task in tasks]
    tasks_only = Event.objects.filter(type__startswith="task.", subject_id__in=ids)
    return set(tasks_only.values_list("id", flat=True))


async def assert_closed_to_resume(ws: Any) -> None:
    closed = await ws.receive_output(TIMEOUT)
    assert closed == {"type": "websocket.close", "code": consumers.RESUME_NEEDED}, closed


async def test_the_sends_of_a_process_are_numbered_one_after_another(member, monkeypatch):
    sent: list[dict[str, Any]] = []

    def recorded(group: str, message: dict[str, Any]) -> bool:
        sent.append(message)
        return True

    on_layer_sends(monkeypatch, recorded)
    for title in ("One", "Two", "Three"):
        await in_thread(task_create)(actor=member, title=title)

    assert len(sent) == 3
    assert len({message["sender"] for message in sent}) == 1
    first = sent[0]["number"]
    assert [message["number"] for message in sent] == [first, first + 1, first + 2]


def test_a_forked_worker_numbers_its_sends_as_a_sender_of_its_own(monkeypatch):
    numbering = sending._Numbering()
    monkeypatch.setattr(sending.os, "getpid", lambda: 1000)
    parent = [numbering.next(), numbering.next()]
    monkeypatch.setattr(sending.os, "getpid", lambda: 1001)
    child = numbering.next()

    assert [number for _sender, number in parent] == [1, 2]
    assert child[1] == 1
    assert child[0] != parent[0][0]


async def test_a_message_lost_on_the_layer_reaches_each_socket_that_may_see_it_from_the_outbox(
    member, other_member, member_client, manager_client, other_member_client, monkeypatch, caplog
):
    """The layer loses the second of three sends: the first arrives, the third shows
    the gap, and the second is read from the outbox for the sockets that may see it."""
    caplog.set_level(logging.WARNING, logger="realtime.fanout")
    losing(monkeypatch, 2)
    missed = missed_total()
    tokens = member_client.tokens, manager_client.tokens, other_member_client.tokens

    async with open_sockets(*tokens) as (own, managing, other):
        first = await in_thread(task_create)(actor=member, title="Arrives")
        for ws in (own, managing):
            assert (await receive(ws))["task"]["id"] == first.pk
        lost = await in_thread(task_create)(actor=member, title="Lost on the layer")
        await assert_all_silent(own, managing)
        third = await in_thread(task_create)(actor=member, title="Shows the gap")
        expected = await in_thread(event_ids)(lost, third)

        assert await events_on(own, 2) == expected
        assert await events_on(managing, 2) == expected
        await assert_all_silent(other)  # the member's tasks are not the other's to see

    assert missed_total() == missed + 1
    assert any("never arrived" in record.getMessage() for record in caplog.records)


async def test_a_catch_up_of_more_than_a_resume_sends_closes_the_socket_to_resume(
    member, manager_client, monkeypatch
):
    monkeypatch.setattr(consumers, "RESUME_LIMIT", 2)
    losing(monkeypatch, 2, 3)

    async with open_sockets(manager_client.tokens) as (ws,):
        await in_thread(task_create)(actor=member, title="Arrives")
        await receive(ws)
        for title in ("Lost", "Lost too", "Shows the gap"):
            await in_thread(task_create)(actor=member, title=title)

        # The arriving event goes out; three since the last that arrived are too many.
        assert (await receive(ws))["task"]["title"] == "Shows the gap"
        await assert_closed_to_resume(ws)


async def test_a_catch_up_that_cannot_read_the_outbox_closes_the_socket_to_resume(
    member, manager_client, monkeypatch
):
    def database_down(*args: Any) -> None:
        raise ConnectionError("the database is down")

    monkeypatch.setattr(consumers, "missed_events", database_down)
    losing(monkeypatch, 2)

    async with open_sockets(manager_client.tokens) as (ws,):
        await in_thread(task_create)(actor=member, title="Arrives")
        await receive(ws)
        await in_thread(task_create)(actor=member, title="Lost")
        await in_thread(task_create)(actor=member, title="Shows the gap")

        third = await receive(ws)  # the arriving event still goes out
        assert third["task"]["title"] == "Shows the gap"
        await assert_closed_to_resume(ws)


async def test_numbers_in_order_close_nothing_and_a_late_or_repeated_one_is_not_a_gap(
    manager_client,
):
    async with open_sockets(manager_client.tokens) as (ws,):
        receiver = fanout.local_fanout()
        missed = missed_total()

        await receiver._dispatch(layer_message(101, sender="web-1", number=7))
        await receiver._dispatch(layer_message(102, sender="web-1", number=8))
        await receiver._dispatch(layer_message(201, sender="web-2", number=1))
        await receiver._dispatch(layer_message(102, sender="web-1", number=8))  # twice
        await receiver._dispatch(layer_message(100, sender="web-1", number=6))  # late

        delivered = [(await receive(ws))["event"] for _ in range(4)]
        assert delivered == [101, 102, 201, 100]  # the repeat is skipped by the socket
        await assert_all_silent(ws)
        assert missed_total() == missed


async def test_a_skipped_number_sends_what_came_after_the_senders_last_arrival(
    member, manager_client
):
    """The lost events' ids are not known: every event after the sender's last one
    that arrived goes out, but never one the socket already had."""
    tasks = [await in_thread(task_create)(actor=member, title=f"Task {n}") for n in range(4)]
    first, second, third, fourth = sorted(await in_thread(event_ids)(*tasks))

    async with open_sockets(manager_client.tokens) as (ws,):
        receiver = fanout.local_fanout()
        missed = missed_total()
        await receiver._dispatch(layer_message(first, sender="web-1", number=7))
        await receiver._dispatch(layer_message(third, sender="web-2", number=1))
        assert await events_on(ws, 2) == {first, third}

        await receiver._dispatch(layer_message(fourth, sender="web-1", number=9))

        assert await events_on(ws, 2) == {second, fourth}
        assert missed_total() == missed + 1


async def test_a_batch_is_one_number_and_a_gap_after_it_resends_from_its_last_event(
    member, manager_client
):
    """A bulk change's events travel in one message under one number: its events all
    go out, in order, and a later gap counts from the last of them."""
    tasks = [await in_thread(task_create)(actor=member, title=f"Task {n}") for n in range(5)]
    ids = sorted(await in_thread(event_ids)(*tasks))

    async with open_sockets(manager_client.tokens) as (ws,):
        receiver = fanout.local_fanout()
        missed = missed_total()
        await receiver._dispatch(batch_message(*ids[:3], sender="web-1", number=4))
        assert [(await receive(ws))["event"] for _ in range(3)] == ids[:3]
        assert missed_total() == missed

        await receiver._dispatch(layer_message(ids[4], sender="web-1", number=6))

        assert await events_on(ws, 2) == {ids[3], ids[4]}
        assert missed_total() == missed + 1


async def test_a_message_without_a_number_is_delivered_unchecked(manager_client):
    """From a sender of before the numbering (a rolling deploy)."""
    async with open_sockets(manager_client.tokens) as (ws,):
        receiver = fanout.local_fanout()
        await receiver._dispatch(layer_message(101, sender="web-1", number=7))
        await receiver._dispatch(layer_message(102))
        await receiver._dispatch(layer_message(103, sender="web-1", number="9"))
        await receiver._dispatch(layer_message(104, sender="web-1", number=8))

        delivered = [(await receive(ws))["event"] for _ in range(4)]
        assert delivered == [101, 102, 103, 104]
        await assert_all_silent(ws)


async def test_numbers_sent_while_the_process_had_no_socket_are_not_a_gap(manager_client):
    """With no socket left the process leaves the layer; what was sent meanwhile was
    never meant for it."""
    async with open_sockets(manager_client.tokens) as (ws,):
        await fanout.local_fanout()._dispatch(layer_message(101, sender="web-1", number=7))
        assert (await receive(ws))["event"] == 101

    async with open_sockets(manager_client.tokens) as (ws,):
        await fanout.local_fanout()._dispatch(layer_message(150, sender="web-1", number=40))
        assert (await receive(ws))["event"] == 150
        await assert_all_silent(ws)


async def test_the_senders_remembered_are_bounded(manager_client, monkeypatch):
    monkeypatch.setattr(fanout, "MAX_SENDERS", 3)
    async with open_sockets(manager_client.tokens) as (ws,):
        receiver = fanout.local_fanout()
        for index in range(5):
            await receiver._dispatch(layer_message(100 + index, sender=f"web-{index}", number=1))
            assert (await receive(ws))["event"] == 100 + index
            assert len(receiver._last_number) <= 3


async def test_sends_leave_one_at_a_time_in_the_order_of_their_numbers(monkeypatch):
    """Threads of a gthread worker send at once; a slow first send must not let a
    later number reach the layer before it."""
    layer = get_channel_layer()
    arrived: list[int] = []

    async def first_one_slow(group: str, message: dict[str, Any]) -> None:
        if not arrived and message["number"] == first:
            await asyncio.sleep(0.05)
        arrived.append(message["number"])

    monkeypatch.setattr(layer, "group_send", first_one_slow)
    first = sending._numbering.next()[1] + 1
    sends = [sending._group_send(layer_message(100 + index)) for index in range(5)]
    await asyncio.gather(*sends)

    assert arrived == list(range(first, first + 5))


async def test_an_event_the_layer_expired_while_the_process_was_behind_reaches_its_sockets(
    member, manager_client, monkeypatch
):
    """The real expiry of the layer in use (channels-redis on Redis, the in-memory layer
    otherwise): the process stops reading after the first event, the second waits past
    the expiry and is forgotten, the third shows the gap."""
    layer = get_channel_layer()
    monkeypatch.setattr(layer, "expiry", 2)
    receive_from_layer = layer.receive
    caught_up = asyncio.Event()
    calls = 0

    async def behind_after_the_first(channel: str) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > 1:
            await caught_up.wait()
        return await receive_from_layer(channel)

    monkeypatch.setattr(layer, "receive", behind_after_the_first)
    missed = missed_total()

    async with open_sockets(manager_client.tokens) as (ws,):
        first = await in_thread(task_create)(actor=member, title="Read in time")
        assert (await receive(ws))["task"]["id"] == first.pk

        expired = await in_thread(task_create)(actor=member, title="Waits past the expiry")
        await asyncio.sleep(4.5)  # channels-redis counts expiry in whole seconds
        third = await in_thread(task_create)(actor=member, title="Read after the gap")
        caught_up.set()

        assert await events_on(ws, 2) == await in_thread(event_ids)(expired, third)

    assert missed_total() == missed + 1
