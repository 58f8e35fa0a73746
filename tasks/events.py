"""The task-event outbox: one row per change, written in the change's transaction,
and sent to the sockets of everyone who may see the task once that commits."""

import asyncio
import logging
import os
import secrets
import socket
import threading
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection

from accounts.models import User
from monitoring.metrics import TASK_EVENT_SEND_FAILURES, TASK_EVENTS_SENT
from taskmanager.loops import PerLoop
from taskmanager.transactions import after_commit
from tasks.fanout import EVENT_MESSAGE_TYPE, EVENTS_GROUP, channel_layer
from tasks.models import Task, TaskEvent
from tasks.serializers import TaskOutputSerializer, datetime_out

logger = logging.getLogger(__name__)

# The audience: a socket follows its user's group; holders of tasks.view_any_task
# also follow this one.
ALL_TASKS_GROUP = "tasks.all"
# A send that takes longer (Redis unreachable) is given up: the event stays in the
# outbox, where clients find it on resume, and the request is not held any longer.
SEND_TIMEOUT_SECONDS = 2.0
# Taken for the last moments of every task write on PostgreSQL (the event insert to
# the commit): event ids then commit in increasing order, so a client that saw
# event N has seen, or will be able to fetch, every event before it.
_EVENT_ORDER_LOCK = 0x7461736B  # "task"

TRACKED_FIELDS = (
    "title",
    "description",
    "priority",
    "status",
    "due_date",
    "owner",
    "assignee",
    "completed_at",
)


def snapshot(task: Task) -> dict[str, Any]:
    """The task in the API's shape, JSON-ready (stored with events, sent to sockets)."""
    return dict(TaskOutputSerializer(task).data)


def record(
    *,
    kind: str,
    task: Task,
    actor: User,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    previous_assignee_id: int | None = None,
) -> TaskEvent:
    """Write the event of one change; `changes` maps each changed field to [old, new]."""
    old, new = before or {}, after or {}
    changes = {
        field: [old.get(field), new.get(field)]
        for field in TRACKED_FIELDS
        if old.get(field) != new.get(field)
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENT_ORDER_LOCK])
    event = TaskEvent.objects.create(
        task_id=task.pk,
        kind=kind,
        actor_id=actor.pk,
        changes=changes,
        snapshot=new or old,
        owner_id=task.owner_id,
        assignee_id=task.assignee_id,
        previous_assignee_id=previous_assignee_id,
    )
    message, groups = socket_message(event), audience(event)
    after_commit(lambda: _send(groups, message))
    return event


def user_group(user_id: int) -> str:
    return f"tasks.user.{user_id}"


def audience(event: TaskEvent) -> list[str]:
    """The groups of everyone who may see the event: owner, assignee, the assignee
    it was taken from, and the holders of the "any" permission."""
    users = {event.owner_id, event.assignee_id, event.previous_assignee_id} - {None}
    return [*(user_group(user_id) for user_id in sorted(users)), ALL_TASKS_GROUP]


def socket_message(event: TaskEvent) -> dict[str, Any]:
    """The event as WebSocket clients receive it (docs/asyncapi.yaml)."""
    return {
        "type": f"task.{event.kind}",
        "event": event.pk,
        "task": event.snapshot,
        "changes": event.changes,
        "actor": event.actor_id,
        "at": datetime_out(event.created_at),
    }


def _send(groups: list[str], message: dict[str, Any]) -> None:
    layer_message = {"type": EVENT_MESSAGE_TYPE, "groups": groups, "message": message}
    try:
        _send_from_sync_code(layer_message)
    except Exception as exc:
        TASK_EVENT_SEND_FAILURES.inc()
        logger.warning(
            "task event %s not sent to sockets (%s: %s); clients get it on resume",
            message["event"],
            type(exc).__name__,
            exc,
        )
        return
    TASK_EVENTS_SENT.labels(kind=message["type"]).inc()


class _Numbering:
    """This process's name on the layer and the number of its last send. Numbered
    sends let a receiving process see that one of them never arrived (tasks.fanout):
    channels-redis forgets a message that waited past its expiry, or that found the
    receiving channel full, without telling anyone."""

    def __init__(self) -> None:
        self._pid = 0
        self._sender = ""
        self._number = 0

    def next(self) -> tuple[str, int]:
        pid = os.getpid()
        if pid != self._pid:  # a forked worker is a sender of its own
            self._pid, self._number = pid, 0
            self._sender = f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}"
        self._number += 1
        return self._sender, self._number


_numbering = _Numbering()
# Sends leave a loop one at a time, numbered as they go: they reach Redis in the
# order of their numbers, so a number skipped at the receiver is a message lost.
_send_turns = PerLoop(asyncio.Lock)


async def _group_send(layer_message: dict[str, Any]) -> None:
    layer = channel_layer()
    async with _send_turns.get():
        sender, number = _numbering.next()
        numbered = {**layer_message, "sender": sender, "number": number}
        await asyncio.wait_for(layer.group_send(EVENTS_GROUP, numbered), SEND_TIMEOUT_SECONDS)


class _SendLoop:
    """One event loop per process, in a thread of its own, for the sends of sync code
    (gunicorn's workers). The layer keeps its Redis connections from one send to the
    next; `async_to_sync` would start a thread, a loop and new connections for each
    send, about half the time of a task write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coroutine: Coroutine[Any, Any, None], timeout: float) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            future.result(timeout)
        finally:
            future.cancel()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked worker inherits the attribute but not the thread.
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="task-event-sends", daemon=True
                )
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_send_loop = _SendLoop()


def _send_from_sync_code(layer_message: dict[str, Any]) -> None:
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        # The embedded layer lives in the server's own loop (`make run`), where the
        # sockets read it: async_to_sync runs the send there.
        async_to_sync(_group_send)(layer_message)
    else:
        _send_loop.run(_group_send(layer_message), SEND_TIMEOUT_SECONDS + 0.5)
