"""/ws/tasks/ delivery: who receives each task event (the members of the task's
project and the site-wide readers), what it holds, when it is sent, and what a full,
slow or unreachable channel layer does to sockets and requests. Project audiences as
memberships change: test_project_events.py."""

import asyncio
import copy
import logging
import socket as sockets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.db.models import QuerySet
from prometheus_client import REGISTRY

from accounts.models import User
from activity.models import Event
from projects.selectors import personal_project_of
from realtime import fanout, sending
from taskmanager.metrics import ChannelsRedisDropCounter
from tasks.models import Task
from tasks.services import task_create, task_delete, task_update
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import FEED_URL, TASKS_URL, page, parse_dt, task_url
from tests.realtime.sockets import (
    TIMEOUT,
    assert_all_silent,
    connected,
    open_sockets,
    receive,
    send,
    socket,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MESSAGE_SHAPE = {"type", "event", "task", "changes", "actor", "at"}
SMALL_CAPACITY = 5


def on_redis() -> bool:
    return "redis" in django_settings.CHANNEL_LAYERS["default"]["BACKEND"].lower()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def dropped() -> float:
    return sample("taskmanager_channel_layer_dropped_total")


def send_failures() -> float:
    return sample("taskmanager_task_event_send_failures_total")


def events_sent(kind: str) -> float:
    return sample("taskmanager_task_events_sent_total", kind=kind)


def websockets_open() -> float:
    return sample("taskmanager_websockets_open")


def task_events(task_id: int) -> QuerySet[Event]:
    """The task's events (a project's have its id as `subject_id`: ids may coincide)."""
    return Event.objects.filter(subject_id=task_id, type__startswith="task.")


def in_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    """A sync call (ORM, HTTP test client, services) awaited from an async test."""
    return database_sync_to_async(function)


@pytest.fixture
def stranger(db: None) -> User:
    """A user who belongs to no project of the test."""
    return UserFactory(username="sam", email="sam@example.com")


@pytest.fixture
def stranger_client(stranger: User, client_for: Any) -> Any:
    return client_for(stranger)


class Writes:
    """The same task writes, through the HTTP API or straight through the services.

    Sync: await them with `in_thread(writes.create)(...)`. Each returns the task as
    the API shows it (for a deletion, as it was just before).
    """

    def __init__(self, via: str, client_for: Callable[..., Any], observer: Any) -> None:
        self.via = via
        self._client_for = client_for
        self._clients: dict[int, Any] = {}
        self.observer = observer

    def client(self, user: User) -> Any:
        if user.pk not in self._clients:
            self._clients[user.pk] = self._client_for(user)
        return self._clients[user.pk]

    def shown(self, task_id: int) -> dict[str, Any]:
        response = self.observer.get(task_url(task_id))
        assert response.status_code == 200, response.content
        return response.json()

    def create(self, actor: User, **fields: Any) -> dict[str, Any]:
        if self.via == "api":
            body = {name: getattr(value, "pk", value) for name, value in fields.items()}
            response = self.client(actor).post(TASKS_URL, body, format="json")
            assert response.status_code == 201, response.content
            assert response.json() == self.shown(response.json()["id"])
            return response.json()
        return self.shown(task_create(actor=actor, **fields).pk)

    def update(self, actor: User, task_id: int, **fields: Any) -> dict[str, Any]:
        if self.via == "api":
            body = {name: getattr(value, "pk", value) for name, value in fields.items()}
            response = self.client(actor).patch(task_url(task_id), body, format="json")
            assert response.status_code == 200, response.content
            assert response.json() == self.shown(task_id)
            return response.json()
        task_update(actor=actor, task_id=task_id, data=fields)
        return self.shown(task_id)

    def delete(self, actor: User, task_id: int) -> dict[str, Any]:
        last = self.shown(task_id)
        if self.via == "api":
            response = self.client(actor).delete(task_url(task_id))
            assert response.status_code == 204, response.content
        else:
            task_delete(actor=actor, task_id=task_id)
        assert not Task.objects.filter(pk=task_id).exists()
        return last


@pytest.fixture(params=["api", "service"])
def writes(request: pytest.FixtureRequest, client_for: Any, admin_client: Any) -> Writes:
    return Writes(request.param, client_for, observer=admin_client)


def check_event_message(
    message: dict[str, Any],
    *,
    kind: str,
    task: dict[str, Any],
    actor: User,
    changes: dict[str, Any],
    feed_client: Any,
) -> None:
    """The message is the stored event: shape, id, task, changes, actor and time, and
    the same event the HTTP feed lists. Sync (reads the database)."""
    assert set(message) == MESSAGE_SHAPE, message
    assert message["type"] == f"task.{kind}", message
    row = Event.objects.get(pk=message["event"])
    assert row.type == f"task.{kind}"
    assert row.subject_id == task["id"]
    assert message["task"] == task
    assert message["changes"] == changes
    assert message["actor"] == actor.pk
    at = parse_dt(message["at"])  # fails on a naive time
    assert at == row.created_at
    listed = page(feed_client.get(FEED_URL, {"after": message["event"] - 1, "limit": 1}))
    (item,) = listed["results"]
    assert item["id"] == message["event"]
    assert item["kind"] == kind
    assert item["task"] == task["id"]
    assert item["actor"] == actor.pk
    assert item["changes"] == changes
    assert parse_dt(item["at"]) == at


async def receive_each(*communicators: Any) -> list[dict[str, Any]]:
    """One message from each socket; all the same event."""
    messages = [await receive(communicator) for communicator in communicators]
    for message in messages[1:]:
        assert message == messages[0]
    return messages


# --- who receives what --------------------------------------------------------------


async def test_a_created_task_reaches_the_members_of_its_project_managers_and_admins_once_each(
    writes, member, manager, member_client, manager_client, admin_client, other_member_client
):
    project = await in_thread(shared_project)(member, manager)
    async with open_sockets(
        member_client.tokens,
        manager_client.tokens,
        admin_client.tokens,
        other_member_client.tokens,
    ) as (owner_ws, manager_ws, admin_ws, stranger_ws):
        # The manager is a member (and the assignee) and reads "all tasks": still once.
        task = await in_thread(writes.create)(
            member, title="Plan the trip", assignee=manager, project=project
        )

        message, _, _ = await receive_each(owner_ws, manager_ws, admin_ws)
        await in_thread(check_event_message)(
            message,
            kind="created",
            task=task,
            actor=member,
            changes={
                "project": [None, project.pk],
                "title": [None, "Plan the trip"],
                "description": [None, ""],
                "priority": [None, "medium"],
                "status": [None, "pending"],
                "owner": [None, member.pk],
                "assignee": [None, manager.pk],
                "labels": [None, []],
                "position": [None, task["position"]],
                "subtasks": [None, {"total": 0, "completed": 0}],
                "blocked": [None, False],
            },
            feed_client=member_client,
        )
        # The assignee is also told, alone (a notification).
        assert (await receive(manager_ws))["type"] == "notification.created"
        await assert_all_silent(owner_ws, manager_ws, admin_ws, stranger_ws)


async def test_a_status_change_reaches_the_owner_the_assignee_managers_and_admins(
    writes,
    member,
    assigned_task,
    member_client,
    other_member_client,
    manager_client,
    admin_client,
    stranger_client,
):
    async with open_sockets(
        other_member_client.tokens,
        member_client.tokens,
        manager_client.tokens,
        admin_client.tokens,
        stranger_client.tokens,
    ) as (owner_ws, assignee_ws, manager_ws, admin_ws, stranger_ws):
        # Mia, the assignee, completes Otto's task.
        task = await in_thread(writes.update)(member, assigned_task.pk, status="completed")

        message, *_ = await receive_each(owner_ws, assignee_ws, manager_ws, admin_ws)
        assert task["status"] == "completed"
        assert task["completed_at"] is not None
        await in_thread(check_event_message)(
            message,
            kind="updated",
            task=task,
            actor=member,
            changes={
                "status": ["pending", "completed"],
                "completed_at": [None, task["completed_at"]],
            },
            feed_client=other_member_client,
        )
        await assert_all_silent(owner_ws, assignee_ws, manager_ws, admin_ws, stranger_ws)


async def test_a_reassignment_reaches_the_old_and_the_new_assignee_members_of_the_project(
    writes,
    member,
    other_member,
    manager,
    member_client,
    other_member_client,
    manager_client,
    admin_client,
    stranger_client,
):
    existing = await in_thread(TaskFactory)(owner=member, assignee=other_member, title="Paint")
    # The manager joins the same project ("Shared by mia"), to be assigned there.
    assert (await in_thread(shared_project)(member, manager)).pk == existing.project_id
    async with open_sockets(
        member_client.tokens,
        other_member_client.tokens,
        manager_client.tokens,
        admin_client.tokens,
        stranger_client.tokens,
    ) as (owner_ws, old_ws, new_ws, admin_ws, stranger_ws):
        # From Otto to the manager (a member who reads "all tasks": still once). Otto
        # is still a member: the event reaches him as it reaches every member.
        task = await in_thread(writes.update)(member, existing.pk, assignee=manager)

        message, *_ = await receive_each(owner_ws, old_ws, new_ws, admin_ws)
        assert task["assignee"] == manager.pk
        await in_thread(check_event_message)(
            message,
            kind="updated",
            task=task,
            actor=member,
            changes={"assignee": [other_member.pk, manager.pk]},
            feed_client=other_member_client,  # Otto's feed has it: he is still a member
        )
        # The new assignee is also told, alone (a notification).
        assert (await receive(new_ws))["type"] == "notification.created"
        await assert_all_silent(owner_ws, old_ws, new_ws, admin_ws, stranger_ws)


async def test_a_deletion_reaches_everyone_who_saw_the_task_with_its_last_state(
    writes,
    member,
    manager,
    admin,
    member_client,
    manager_client,
    admin_client,
    other_member_client,
):
    existing = await in_thread(TaskFactory)(
        owner=member, assignee=manager, title="Old plan", description="Gone soon"
    )
    await in_thread(task_update)(actor=member, task_id=existing.pk, data={"priority": "high"})
    async with open_sockets(
        member_client.tokens,
        manager_client.tokens,
        admin_client.tokens,
        other_member_client.tokens,
    ) as (owner_ws, manager_ws, admin_ws, stranger_ws):
        last = await in_thread(writes.delete)(admin, existing.pk)

        message, *_ = await receive_each(owner_ws, manager_ws, admin_ws)
        assert last["priority"] == "high"
        assert last["version"] == 2
        await in_thread(check_event_message)(
            message,
            kind="deleted",
            task=last,
            actor=admin,
            changes={
                "project": [existing.project_id, None],
                "title": ["Old plan", None],
                "description": ["Gone soon", None],
                "priority": ["high", None],
                "status": ["pending", None],
                "owner": [member.pk, None],
                "assignee": [manager.pk, None],
                "labels": [[], None],
                "position": [last["position"], None],
                "subtasks": [{"total": 0, "completed": 0}, None],
                "blocked": [False, None],
            },
            feed_client=member_client,
        )
        await assert_all_silent(owner_ws, manager_ws, admin_ws, stranger_ws)


async def test_every_socket_of_a_user_receives_the_event(member, task, client_for):
    first, second = await in_thread(lambda: (client_for(member), client_for(member)))()
    async with open_sockets(first.tokens, second.tokens, first.tokens) as sockets:
        await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": "Everywhere"})

        messages = await receive_each(*sockets)
        assert messages[0]["changes"] == {"title": ["Mia's task", "Everywhere"]}
        await assert_all_silent(*sockets)


# --- nothing for what does not commit -------------------------------------------------


async def test_a_change_rolled_back_sends_nothing(member, task, member_client, manager_client):
    def change_then_fail() -> None:
        with transaction.atomic():
            task_update(actor=member, task_id=task.pk, data={"title": "Never happened"})
            raise RuntimeError("boom")

    async with open_sockets(member_client.tokens, manager_client.tokens) as sockets:
        with pytest.raises(RuntimeError):
            await in_thread(change_then_fail)()
        await assert_all_silent(*sockets)
        assert await in_thread(lambda: task_events(task.pk).count())() == 1

        # The sockets were listening: the next committed change is the next message.
        await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": "Happened"})
        for message in await receive_each(*sockets):
            assert message["changes"] == {"title": ["Mia's task", "Happened"]}


async def test_a_refused_http_write_sends_nothing(
    member, assigned_task, member_client, other_member_client, manager_client
):
    url = task_url(assigned_task)

    def refused_writes() -> None:
        etag = member_client.get(url)["ETag"]
        stale = etag.replace("-1", "-7")
        assert stale != etag
        responses = [
            member_client.patch(url, {"title": "x"}, format="json", HTTP_IF_MATCH=stale),
            other_member_client.delete(url, HTTP_IF_MATCH=stale),
            member_client.patch(url, {"status": "someday"}, format="json"),
            member_client.patch(url, {"title": ""}, format="json"),
            member_client.delete(url),  # the assignee may not delete
        ]
        assert [response.status_code for response in responses] == [412, 412, 400, 400, 403]

    async with open_sockets(
        member_client.tokens, other_member_client.tokens, manager_client.tokens
    ) as sockets:
        await in_thread(refused_writes)()
        await assert_all_silent(*sockets)
        assert await in_thread(task_events(assigned_task.pk).count)() == 1

        response = await in_thread(member_client.patch)(url, {"title": "Accepted"}, format="json")
        assert response.status_code == 200
        for message in await receive_each(*sockets):
            assert message["changes"] == {"title": ["Otto's task for Mia", "Accepted"]}


async def test_an_event_arrives_only_once_its_transaction_commits(
    member, task, member_client, manager_client
):
    inside, leave = threading.Event(), threading.Event()

    def change_in_a_longer_transaction() -> None:
        try:
            with transaction.atomic():
                task_update(actor=member, task_id=task.pk, data={"title": "Committed at last"})
                inside.set()
                assert leave.wait(TIMEOUT)
        finally:
            connection.close()

    async with open_sockets(member_client.tokens, manager_client.tokens) as sockets:
        # Not the consumers' database thread: they go on reading while this one waits.
        change = asyncio.ensure_future(
            sync_to_async(change_in_a_longer_transaction, thread_sensitive=False)()
        )
        try:
            assert await asyncio.to_thread(inside.wait, TIMEOUT)
            # The service's own atomic block has exited; the outer one has not. The
            # sockets answer, and nothing else arrives.
            for ws in sockets:
                await send(ws, {"type": "ping"})
                assert await receive(ws) == {"type": "pong"}
            await assert_all_silent(*sockets)
        finally:
            leave.set()
            await change
        for message in await receive_each(*sockets):
            assert message["changes"] == {"title": ["Mia's task", "Committed at last"]}


# --- a consumer that stops reading ----------------------------------------------------


@pytest.fixture
def small_capacity(settings: Any) -> int:
    """Channels that hold only a few messages (the per-test layer, copied)."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"].setdefault("CONFIG", {})["capacity"] = SMALL_CAPACITY
    settings.CHANNEL_LAYERS = layers
    return SMALL_CAPACITY


async def test_a_stuck_consumer_does_not_hold_up_another_socket_and_its_drops_are_counted(
    member, task, member_client, small_capacity
):
    layer = get_channel_layer()
    assert layer.capacity == small_capacity
    stuck = await layer.new_channel()
    await layer.group_add(fanout.EVENTS_GROUP, stuck)
    changes = small_capacity + 7
    before = dropped()

    async with open_sockets(member_client.tokens) as (live,):
        for number in range(changes):
            await in_thread(task_update)(
                actor=member, task_id=task.pk, data={"title": f"Take {number}"}
            )
            message = await receive(live)
            assert message["task"]["title"] == f"Take {number}"

        # The stuck channel kept the first `capacity` events and lost the rest.
        assert dropped() - before == changes - small_capacity


@pytest.mark.skipif("not on_redis()", reason="another server process needs a shared layer")
async def test_a_stuck_consumer_of_another_process_is_counted_through_the_redis_log(
    member, task, member_client, small_capacity, caplog
):
    """A consumer of another server process (its own layer instance, so its own Redis
    list) that stops reading: channels-redis drops past `capacity` and only logs it;
    the logging filter from settings.LOGGING counts it."""
    logger = logging.getLogger("channels_redis.core")
    counters = [f for f in logger.filters if isinstance(f, ChannelsRedisDropCounter)]
    # Each one counts every record: more than one counts each drop several times.
    assert len(counters) == 1, f"{len(counters)} drop counters on channels_redis.core"
    assert logger.isEnabledFor(logging.INFO)
    layer = get_channel_layer()
    config = django_settings.CHANNEL_LAYERS["default"]["CONFIG"]
    other_process = type(layer)(**config)
    stuck = await other_process.new_channel()
    await other_process.group_add(fanout.EVENTS_GROUP, stuck)
    changes = small_capacity + 7
    before = dropped()

    try:
        async with open_sockets(member_client.tokens) as (live,):
            for number in range(changes):
                await in_thread(task_update)(
                    actor=member, task_id=task.pk, data={"title": f"Take {number}"}
                )
                message = await receive(live)
                assert message["task"]["title"] == f"Take {number}"

            over = [r for r in caplog.records if "over capacity" in r.getMessage()]
            assert len(over) == changes - small_capacity  # one record per dropping send
            assert dropped() - before == changes - small_capacity
    finally:
        await other_process.close_pools()


# --- a channel layer that is down or slow ---------------------------------------------


@pytest.fixture
def unreachable_layer(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Redis: a port nothing listens on. In memory: a layer whose sends fail."""
    if on_redis():
        layers = copy.deepcopy(settings.CHANNEL_LAYERS)
        layers["default"]["CONFIG"]["hosts"] = ["redis://127.0.0.1:1/0"]
        settings.CHANNEL_LAYERS = layers
    else:

        async def refused(group: str, message: dict[str, Any]) -> None:
            raise ConnectionRefusedError("layer down")

        monkeypatch.setattr(get_channel_layer(), "group_send", refused)
    yield


def test_a_write_answers_and_keeps_its_event_when_the_channel_layer_is_unreachable(
    member_client, unreachable_layer, caplog
):
    failures = send_failures()
    caplog.set_level(logging.WARNING, logger="realtime.sending")

    started = time.monotonic()
    created = member_client.post(TASKS_URL, {"title": "Offline"}, format="json")
    updated = member_client.patch(
        task_url(created.json()["id"]), {"priority": "low"}, format="json"
    )
    elapsed = time.monotonic() - started

    assert created.status_code == 201, created.content
    assert updated.status_code == 200, updated.content
    assert elapsed < 2 * sending.SEND_TIMEOUT_SECONDS
    ids = list(task_events(created.json()["id"]).order_by("id").values_list("id", flat=True))
    assert len(ids) == 2
    listed = page(member_client.get(FEED_URL))["results"]
    assert [item["id"] for item in listed] == ids
    assert send_failures() - failures == 2
    warnings = [r for r in caplog.records if r.name == "realtime.sending"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    for record, event_id in zip(warnings, ids, strict=True):
        assert record.getMessage().startswith(f"event {event_id} not sent to sockets")


@pytest.fixture
def hanging_layer(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A send that waits 0.2 s, then gives up. Redis: a server that takes connections
    and never answers, behind the layer's operation timeout. In memory: a send that
    sleeps, behind realtime.sending's timeout."""
    if on_redis():
        with sockets.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            layers = copy.deepcopy(settings.CHANNEL_LAYERS)
            config = layers["default"]["CONFIG"]
            address = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
            config["hosts"] = [{"address": address, "socket_connect_timeout": 0.2}]
            config["operation_timeout"] = 0.2
            settings.CHANNEL_LAYERS = layers
            yield
        return

    async def hangs(group: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(get_channel_layer(), "group_send", hangs)
    monkeypatch.setattr(sending, "SEND_TIMEOUT_SECONDS", 0.2)
    yield


def test_a_write_waits_no_longer_than_the_send_timeout_for_a_hanging_layer(
    member_client, hanging_layer, caplog
):
    failures = send_failures()
    caplog.set_level(logging.WARNING, logger="realtime.sending")

    started = time.monotonic()
    created = member_client.post(TASKS_URL, {"title": "Slow layer"}, format="json")
    elapsed = time.monotonic() - started

    assert created.status_code == 201, created.content
    assert 0.2 <= elapsed < 1.5
    assert Event.objects.filter(subject_id=created.json()["id"], type="task.created").exists()
    assert send_failures() - failures == 1
    (record,) = [r for r in caplog.records if r.name == "realtime.sending"]
    assert record.levelno == logging.WARNING
    assert "TimeoutError" in record.getMessage()


# --- metrics ------------------------------------------------------------------------


def test_events_sent_are_counted_by_kind_once_per_event(
    member, other_member, manager, member_client
):
    project = shared_project(member, other_member, manager)
    personal = personal_project_of(member)
    kinds = ("task.created", "task.updated", "task.deleted")
    before = {kind: events_sent(kind) for kind in kinds}

    def moved() -> dict[str, float]:
        return {kind: events_sent(kind) - before[kind] for kind in kinds}

    created = member_client.post(
        TASKS_URL,
        {"title": "Counted", "assignee": other_member.pk, "project": project.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    # One layer message whatever the audience (the project's members, "all tasks").
    assert moved() == {"task.created": 1, "task.updated": 0, "task.deleted": 0}

    url = task_url(created.json()["id"])
    assert member_client.patch(url, {"assignee": manager.pk}, format="json").status_code == 200
    assert moved() == {"task.created": 1, "task.updated": 1, "task.deleted": 0}

    unchanged = member_client.patch(url, {"title": "Counted"}, format="json")
    assert unchanged.status_code == 200  # nothing changed: no event
    assert moved() == {"task.created": 1, "task.updated": 1, "task.deleted": 0}

    # A move is one message for the members of both projects.
    move = member_client.patch(url, {"project": personal.pk, "assignee": None}, format="json")
    assert move.status_code == 200, move.content
    assert moved() == {"task.created": 1, "task.updated": 2, "task.deleted": 0}

    assert member_client.delete(url).status_code == 204
    assert moved() == {"task.created": 1, "task.updated": 2, "task.deleted": 1}


async def test_the_open_websockets_gauge_follows_connects_and_disconnects(
    member_client, manager_client
):
    before = websockets_open()
    first = socket(token=member_client.tokens["access"])
    second = socket(token=manager_client.tokens["access"])
    refused = socket(token="not-a-token")
    try:
        await connected(first)
        assert websockets_open() - before == 1
        await connected(second)
        assert websockets_open() - before == 2
        await first.disconnect()
        assert websockets_open() - before == 1

        accepted, _ = await refused.connect(TIMEOUT)
        assert accepted
        assert (await receive(refused))["error"]["code"] == "authentication_failed"
        assert await refused.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4401}
        await refused.disconnect()
        assert websockets_open() - before == 1
    finally:
        for communicator in (first, second, refused):
            await communicator.disconnect()
    assert websockets_open() == before
