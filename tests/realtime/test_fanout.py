"""One process, many sockets: they share one channel on the layer (realtime.fanout), each
event arrives there once and goes to the local sockets of its audience only; their
identities are checked together (realtime.authentication.IdentityWatch)."""

import logging
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from prometheus_client import REGISTRY

import realtime.authentication
from accounts import auth_cache
from realtime import consumers, fanout
from realtime.authentication import identity_watch
from tasks.models import Task
from tasks.services import task_create, task_update, tasks_bulk_update
from tests.factories import TaskFactory
from tests.realtime.sockets import (
    ALL_TASKS,
    TIMEOUT,
    assert_all_silent,
    assert_closed_unauthorized,
    batch_message,
    layer_message,
    loop_turns,
    on_layer_sends,
    open_sockets,
    receive,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

in_thread = database_sync_to_async


def websockets_open() -> float:
    return REGISTRY.get_sample_value("taskmanager_websockets_open") or 0.0


async def layer_members(layer: BaseChannelLayer, group: str) -> list[str]:
    """The channels in a group, as the layer itself holds them."""
    if hasattr(layer, "groups"):  # the in-memory layer
        return list(layer.groups.get(group, {}))
    key = layer._group_key(group)  # channels-redis: a sorted set per group
    names = await layer.connection(layer.consistent_hash(group)).zrange(key, 0, -1)
    return [name.decode() for name in names]


async def test_the_sockets_of_a_process_share_one_layer_channel_and_get_their_events(
    member, other_member, manager, member_client, other_member_client, manager_client
):
    layer = get_channel_layer()
    before = await layer_members(layer, fanout.EVENTS_GROUP)

    async with open_sockets(
        member_client.tokens, other_member_client.tokens, manager_client.tokens
    ) as (own, other, managing):
        joined = set(await layer_members(layer, fanout.EVENTS_GROUP)) - set(before)
        assert len(joined) == 1

        task = await in_thread(task_create)(actor=member, title="Seen by two of three")

        for ws in (own, managing):
            message = await receive(ws)
            assert (message["type"], message["task"]["id"]) == ("task.created", task.pk)
        await assert_all_silent(other)

    assert set(await layer_members(layer, fanout.EVENTS_GROUP)) == set(before)


@pytest.mark.parametrize(
    "malformed",
    [
        "not a dict",
        {"type": fanout.EVENT_MESSAGE_TYPE},
        {"type": fanout.EVENT_MESSAGE_TYPE, "groups": ALL_TASKS, "message": {"event": 1}},
        {"type": fanout.EVENT_MESSAGE_TYPE, "groups": [[ALL_TASKS]], "message": {"event": 1}},
        {"type": fanout.EVENT_MESSAGE_TYPE, "groups": [ALL_TASKS], "message": {"event": "1"}},
        {"type": fanout.EVENT_MESSAGE_TYPE, "groups": [ALL_TASKS], "message": [1]},
        {"type": "something.else", "groups": [ALL_TASKS], "message": {"event": 1}},
        {"type": fanout.EVENT_MESSAGE_TYPE, "events": []},
        {"type": fanout.EVENT_MESSAGE_TYPE, "events": "task.updated"},
        {"type": fanout.EVENT_MESSAGE_TYPE, "events": [None]},
        # One bad event spoils the message: none of it goes out.
        {
            "type": fanout.EVENT_MESSAGE_TYPE,
            "events": [
                batch_message(1)["events"][0],
                {"groups": [ALL_TASKS], "message": {"event": 2}},
            ],
        },
        *(
            {
                "type": fanout.EVENT_MESSAGE_TYPE,
                "groups": [ALL_TASKS],
                "message": {
                    **dict.fromkeys(fanout.EVENT_FIELDS),
                    "type": unhashable,
                    "event": 1,
                    "task": {},
                    "changes": {},
                },
            }
            for unhashable in (["task.created"], {"task.created": 1})
        ),
    ],
)
async def test_a_malformed_layer_message_is_dropped_and_delivery_goes_on(
    member, manager, manager_client, malformed, caplog
):
    caplog.set_level(logging.WARNING, logger="realtime.fanout")
    layer = get_channel_layer()
    task = await in_thread(TaskFactory)(owner=member)

    async with open_sockets(manager_client.tokens) as (ws,):
        receiver = fanout.local_fanout()
        await receiver._dispatch(malformed)
        if isinstance(malformed, dict):  # the layer itself only carries dicts
            await layer.group_send(fanout.EVENTS_GROUP, malformed)
        await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": "After"})

        message = await receive(ws)
        assert message["type"] == "task.updated"
        assert message["task"]["title"] == "After"
        await assert_all_silent(ws)

    assert any("malformed layer message" in r.getMessage() for r in caplog.records)


async def test_after_the_layer_fails_the_sockets_are_closed_to_resume_and_events_flow_again(
    member, member_client, monkeypatch, caplog
):
    """Events sent while the layer was down never reached this process: once it is
    back, its sockets are closed with 4503, and their clients resume."""
    caplog.set_level(logging.WARNING, logger="realtime.fanout")
    layer = get_channel_layer()
    receive_from_layer = layer.receive
    failures = iter([ConnectionError("Redis restarting")])

    async def flaky_receive(channel: str) -> dict[str, Any]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return await receive_from_layer(channel)

    monkeypatch.setattr(layer, "receive", flaky_receive)
    monkeypatch.setattr(fanout, "RETRY_SECONDS", 0.05)

    async with open_sockets(member_client.tokens) as (ws,):
        closed = await ws.receive_output(TIMEOUT)
        assert closed == {"type": "websocket.close", "code": consumers.RESUME_NEEDED}

    async with open_sockets(member_client.tokens) as (ws,):
        task = await in_thread(task_create)(actor=member, title="After the fault")
        message = await receive(ws)
        assert message["task"]["id"] == task.pk

    assert any("channel layer failed" in r.getMessage() for r in caplog.records)


async def test_one_socket_failing_does_not_keep_the_event_from_the_others(
    member, member_client, manager_client, monkeypatch
):
    async with open_sockets(member_client.tokens, manager_client.tokens) as (own, _managing):
        first = next(iter(fanout.local_fanout().recipients([ALL_TASKS])))

        async def broken(event_id: int, text: str) -> None:
            raise OSError("transport gone")

        monkeypatch.setattr(first, "deliver", broken)
        task = await in_thread(task_create)(actor=member, title="Still delivered")

        message = await receive(own)
        assert message["task"]["id"] == task.pk


async def test_the_frames_of_an_event_leave_while_it_is_still_handed_to_other_sockets():
    # A socket's send only frames the event; daphne writes it when the loop next runs.
    handed: list[tuple[int, int]] = []  # (event, loop turn) as each socket gets it

    with loop_turns() as turns:

        class Socket:
            async def deliver(self, event_id: int, text: str, frame: bytes | None = None) -> None:
                handed.append((event_id, turns()))

        receiver = fanout.LocalFanout()
        sockets = 3 * fanout.SOCKETS_PER_TURN + 1
        receiver._members[ALL_TASKS] = {Socket() for _ in range(sockets)}
        await receiver._dispatch(layer_message(7))

    assert [event for event, _ in handed] == [7] * sockets
    seen = [turn for _, turn in handed]
    per_turn = [seen.count(turn) for turn in sorted(set(seen))]
    assert per_turn == [fanout.SOCKETS_PER_TURN] * 3 + [1]


# The identities of a process's sockets are checked together (IdentityWatch).


async def test_the_sockets_of_a_process_are_checked_together_in_one_cache_round_trip(
    member, manager, member_client, other_member_client, manager_client, monkeypatch
):
    calls: list[list[str]] = []
    get_many = auth_cache.cache.get_many

    def counted(keys: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(list(keys))
        return get_many(keys, *args, **kwargs)

    async with open_sockets(
        member_client.tokens, other_member_client.tokens, manager_client.tokens
    ) as sockets:
        monkeypatch.setattr(auth_cache.cache, "get_many", counted)
        await identity_watch().check_all()
        monkeypatch.undo()

        assert len(calls) == 1
        sessions = [key for key in calls[0] if key.startswith("auth:session:")]
        assert len(sessions) == 3
        for ws in sockets:  # all still open and served
            await send(ws, {"type": "ping"})
            assert await receive(ws) == {"type": "pong"}


async def test_a_failed_check_leaves_the_sockets_open_and_the_next_one_closes_them(
    member, member_client, settings, monkeypatch, caplog
):
    settings.WEBSOCKET_RECHECK_SECONDS = 0.2
    recheck_many = realtime.authentication.recheck_many
    failures = iter([RuntimeError("cache and database down")])

    def flaky(identities: Any) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return recheck_many(identities)

    monkeypatch.setattr(realtime.authentication, "recheck_many", flaky)
    async with open_sockets(member_client.tokens) as (ws,):
        await identity_watch().check_all()
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}

        logout = await in_thread(member_client.post)("/api/v1/auth/logout/", {}, format="json")
        assert logout.status_code == 204, logout.content

        await assert_closed_unauthorized(ws, 4 * TIMEOUT)

    assert any("could not check the identities" in r.getMessage() for r in caplog.records)


async def test_a_socket_opened_while_the_layer_is_down_is_told_to_resume_once_it_is_back(
    member, member_client, monkeypatch
):
    layer = get_channel_layer()
    group_add = layer.group_add
    failures = iter([ConnectionError("Redis down")] * 2)

    async def flaky_group_add(group: str, channel: str) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        await group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", flaky_group_add)
    monkeypatch.setattr(fanout, "RETRY_SECONDS", 0.05)
    opened = websockets_open()

    async with open_sockets(member_client.tokens) as (ws,):  # `ready` despite the layer
        assert websockets_open() == opened + 1
        closed = await ws.receive_output(TIMEOUT)
        assert closed == {"type": "websocket.close", "code": consumers.RESUME_NEEDED}

    assert websockets_open() == opened


async def test_a_message_that_fails_to_be_handed_out_does_not_stop_the_next(
    member, manager_client, monkeypatch, caplog
):
    task = await in_thread(TaskFactory)(owner=member)
    missed_before = fanout.LocalFanout._missed_before
    calls = 0

    def fails_once(
        self: fanout.LocalFanout, message: dict[str, Any], last_event: int
    ) -> tuple[int, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in handing out")
        return missed_before(self, message, last_event)

    monkeypatch.setattr(fanout.LocalFanout, "_missed_before", fails_once)

    async with open_sockets(manager_client.tokens) as (ws,):
        await in_thread(task_update)(
            actor=member, task_id=task.pk, data={"title": "Lost to the bug"}
        )
        await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": "After"})

        message = await receive(ws)
        assert message["task"]["title"] == "After"

    assert any("could not be handed out" in r.getMessage() for r in caplog.records)


async def test_a_bulk_changes_events_reach_the_sockets_in_one_layer_message(
    member, manager_client, monkeypatch
):
    sent: list[dict[str, Any]] = []

    def counting_send(group: str, message: dict[str, Any]) -> bool:
        sent.append(message)
        return True

    tasks = [await in_thread(TaskFactory)(owner=member) for _ in range(3)]
    ids = [task.pk for task in tasks]
    on_layer_sends(monkeypatch, counting_send)

    async with open_sockets(manager_client.tokens) as (ws,):
        await in_thread(tasks_bulk_update)(
            actor=member,
            ids=ids,
            visible=Task.objects.all(),
            may_change=lambda task: True,
            data={"status": "in_progress"},
            add_labels=[],
            remove_labels=[],
        )

        received = [await receive(ws) for _ in ids]
        assert [(m["type"], m["task"]["id"]) for m in received] == [
            ("task.updated", task_id) for task_id in ids
        ]
        assert [m["event"] for m in received] == sorted(m["event"] for m in received)
        await assert_all_silent(ws)
    assert len(sent) == 1
    assert [item["message"]["task"]["id"] for item in sent[0]["events"]] == ids
