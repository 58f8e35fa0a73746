"""Committed events to the channel layer: each one once, to the group every socket
process follows (realtime.fanout), with the audience keys it is for; the events of
one batch (a bulk change) in as few messages as MAX_EVENTS_PER_MESSAGE allows.

Subscribed to the outbox (activity.publication) by this app's AppConfig.ready.
"""

import asyncio
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from asgiref.sync import async_to_sync

from activity import kinds
from activity.models import Event
from activity.selectors import event_message
from realtime.channel_layers import CountingRedisChannelLayer
from realtime.fanout import EVENT_MESSAGE_TYPE, EVENTS_GROUP, channel_layer
from realtime.loops import PerLoop
from taskmanager import redis_effects
from taskmanager.metrics import TASK_EVENT_SEND_FAILURES, TASK_EVENTS_SENT

logger = logging.getLogger(__name__)

# A send through an event loop that takes longer is given up: the event stays in the
# outbox, where clients find it on resume, and the request is not held any longer. On
# Redis the connection's own timeouts bound the send (taskmanager.redis_breaker).
SEND_TIMEOUT_SECONDS = 2.0
# Events of a batch per layer message: a hundred task events are some 60 KB, far
# below what Redis and channels-redis take, and one send instead of a hundred.
MAX_EVENTS_PER_MESSAGE = 100


def publish(events: Sequence[Event]) -> None:
    """Send committed events to the sockets of their audience (activity.kinds): one
    alone as `{"groups", "message"}`, more under `"events"` as a list of those
    (realtime.fanout reads both)."""
    for start in range(0, len(events), MAX_EVENTS_PER_MESSAGE):
        chunk = [
            {"groups": kinds.audience(event), "message": event_message(event)}
            for event in events[start : start + MAX_EVENTS_PER_MESSAGE]
        ]
        send(chunk)


def send(events: list[dict[str, Any]]) -> None:
    """One layer message with `events` (each its `groups` and `message`). On Redis it
    goes with the write's other calls to Redis once the hooks after its commit have
    run (taskmanager.redis_effects)."""
    body = events[0] if len(events) == 1 else {"events": events}
    layer_message = {"type": EVENT_MESSAGE_TYPE, **body}
    try:
        _send_from_sync_code(layer_message, lambda: _sent(events), lambda exc: _lost(events, exc))
    except Exception as exc:
        _lost(events, exc)


def _sent(events: list[dict[str, Any]]) -> None:
    for event in events:
        TASK_EVENTS_SENT.labels(kind=event["message"]["type"]).inc()


def _lost(events: list[dict[str, Any]], exc: Exception) -> None:
    TASK_EVENT_SEND_FAILURES.inc(len(events))
    first, last = events[0]["message"]["event"], events[-1]["message"]["event"]
    which = f"event {first}" if first == last else f"events {first} to {last}"
    logger.warning(
        "%s not sent to sockets (%s: %s); clients get them on resume",
        which,
        type(exc).__name__,
        exc,
    )


class _Numbering:
    """This process's name on the layer and the number of its last send. Numbered
    sends let a receiving process see that one of them never arrived
    (realtime.fanout): channels-redis forgets a message that waited past its expiry,
    or that found the receiving channel full, without telling anyone."""

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


# The sends of sync code (a request's thread) take their numbers and reach Redis one
# at a time, as those of a loop do under `_send_turns`.
_blocking_turns = threading.Lock()


def _send_from_sync_code(
    layer_message: dict[str, Any], done: Callable[[], None], failed: Callable[[Exception], None]
) -> None:
    layer = channel_layer()
    if isinstance(layer, CountingRedisChannelLayer):
        # One round trip on the request's own thread, shared with the write's other
        # calls to Redis (bench/RESULTS.md, "The writes, fourth pass" and "eighth
        # pass"). Numbered as it is sent, under the turn.
        def numbered() -> dict[str, Any]:
            sender, number = _numbering.next()
            return {**layer_message, "sender": sender, "number": number}

        redis_effects.send(
            layer.group_send_call(
                EVENTS_GROUP, numbered, done=done, failed=failed, turn=_blocking_turns
            )
        )
    else:
        # The embedded layer lives in the server's own loop (`make run`), where the
        # sockets read it: async_to_sync runs the send there.
        async_to_sync(_group_send)(layer_message)
        done()
