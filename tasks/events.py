"""The task-event outbox: one row per change, written in the change's transaction,
and sent to the sockets of everyone who may see the task once that commits."""

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from accounts.models import User
from monitoring.metrics import TASK_EVENT_SEND_FAILURES, TASK_EVENTS_SENT
from taskmanager.transactions import after_commit
from tasks.models import Task, TaskEvent
from tasks.serializers import TaskEventOutputSerializer, TaskOutputSerializer

logger = logging.getLogger(__name__)

# Members follow their own group; holders of tasks.view_any_task also follow this one.
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
    data = TaskEventOutputSerializer(event).data
    return {
        "type": f"task.{event.kind}",
        "event": event.pk,
        "task": event.snapshot,
        "changes": event.changes,
        "actor": event.actor_id,
        "at": data["at"],
    }


def _send(groups: list[str], message: dict[str, Any]) -> None:
    try:
        async_to_sync(_group_send)(groups, {"type": "task.event", "message": message})
    except Exception as exc:
        TASK_EVENT_SEND_FAILURES.inc()
        logger.warning(
            "task event %s not sent to sockets (%s: %s); clients get it on resume",
            message["event"],
            type(exc).__name__,
            exc,
        )
        return
    TASK_EVENTS_SENT.labels(kind=message["type"]).inc(len(groups))


async def _group_send(groups: list[str], layer_message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer.")
    sends = (layer.group_send(group, layer_message) for group in groups)
    await asyncio.wait_for(asyncio.gather(*sends), SEND_TIMEOUT_SECONDS)
