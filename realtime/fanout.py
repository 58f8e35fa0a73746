"""Events to the sockets of one server process: one layer channel per process (per
event loop) follows `EVENTS_GROUP`, so each event arrives and is encoded once per
process, then goes to the local sockets of its audience keys (`activity.kinds`).
Why sockets have no layer channel of their own, and what a gap in a sender's numbers
sets off: docs/realtime.md, "Delivery" and "Missed events are never silent".
"""

import asyncio
import json
import logging
from typing import Any, Protocol

from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from activity import kinds
from realtime.authentication import identity_watch
from realtime.frames import text_frame
from realtime.loops import PerLoop
from taskmanager.metrics import TASK_EVENTS_MISSED

logger = logging.getLogger(__name__)

# The layer group every process follows, and the type of its messages
# (realtime.sending).
EVENTS_GROUP = "realtime.events"
EVENT_MESSAGE_TYPE = "realtime.event"
# What a socket may be sent (docs/asyncapi.yaml), besides the object's state under
# its kind's name: nothing else goes out.
EVENT_FIELDS = frozenset({"type", "event", "changes", "actor", "at"})
# channels-redis forgets group members after `group_expiry` (a day): the process
# channel joins the group again this often.
REJOIN_SECONDS = 3600
# After the layer fails (Redis restarting), the receiver tries every RETRY_SECONDS to
# join the group again (a restarted Redis has forgotten it). Events sent meanwhile
# did not reach this process: once it is back, its sockets are told (`events_lost`)
# and their clients resume from the outbox.
RETRY_SECONDS = 1.0
# Senders whose last number a process remembers (realtime.sending numbers the sends of
# each process): past this many, it starts again from the next message of each.
MAX_SENDERS = 4096
# Under daphne a socket's `send` only frames the event, written when the loop next
# runs: letting the loop run every SOCKETS_PER_TURN sockets starts the writes at once,
# not after every socket is framed (bench/RESULTS.md, "Turns"). uvicorn writes at once;
# the turns still let pings, handshakes and client messages in during a fan-out.
SOCKETS_PER_TURN = 32
# Messages received while the fan-out hands out earlier ones wait in the process, at
# most INBOX_SIZE (past that they wait in the layer, whose capacity counts what it
# drops), and go out together: each socket's frames of them in one write, one system
# call where each frame took one (bench/RESULTS.md, "Frames of a batch in one write").
# A hand-out takes whole messages, up to about MAX_BATCH_EVENTS events.
INBOX_SIZE = 256
MAX_BATCH_EVENTS = 500


class Recipient(Protocol):
    """A socket that events can be handed to (realtime.consumers.TaskEventConsumer)."""

    async def deliver(self, event_id: int, text: str, frame: bytes | None = None) -> None: ...

    async def deliver_many(self, events: list[tuple[int, str, bytes | None]]) -> None: ...

    async def catch_up(self, after: int) -> None: ...

    async def events_lost(self) -> None: ...


class LocalFanout:
    """The audience keys of this process's sockets, and the one channel that
    receives the events for them. Used from one event loop only (`local_fanout`)."""

    def __init__(self) -> None:
        self._members: dict[str, set[Recipient]] = {}
        self._channel: str | None = None
        # The layer and the name the channel takes each time it opens, for the life
        # of the loop. channels-redis buffers by name what it pulls from Redis for
        # this process: messages still on their way to a name given up would sit in
        # its buffer for good. A name kept gets them on its next opening instead (a
        # gap they show is at worst one needless resume).
        self._name: tuple[BaseChannelLayer, str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # The number and event id of the last message received from each sender
        # (realtime.sending).
        self._last_number: dict[str, tuple[int, int]] = {}
        # Starting and stopping wait for the layer: one at a time.
        self._lock = asyncio.Lock()

    async def join(self, group: str, recipient: Recipient) -> None:
        async with self._lock:
            if self._channel is None:
                layer = channel_layer()
                if self._name is None or self._name[0] is not layer:
                    self._name = (layer, await layer.new_channel())
                channel = self._name[1]
                joined = await self._join_group(layer, channel)
                self._channel = channel
                # Sends before this channel joined were never meant for it.
                self._last_number.clear()
                inbox: asyncio.Queue[Any] = asyncio.Queue(INBOX_SIZE)
                self._tasks = [
                    asyncio.ensure_future(self._receive(layer, channel, joined, inbox)),
                    asyncio.ensure_future(self._hand_out_inbox(inbox)),
                    asyncio.ensure_future(self._rejoin_now_and_then(layer, channel)),
                ]
            self._members.setdefault(group, set()).add(recipient)

    async def leave(self, group: str, recipient: Recipient) -> None:
        async with self._lock:
            members = self._members.get(group)
            if members is None or recipient not in members:
                return
            members.discard(recipient)
            if not members:
                del self._members[group]
            if self._members or self._channel is None:
                return
            # No socket left: stop receiving rather than keep a channel open.
            channel, self._channel = self._channel, None
            for task in self._tasks:
                task.cancel()
            self._tasks = []
            try:
                await channel_layer().group_discard(EVENTS_GROUP, channel)
            except Exception as exc:  # the layer is down; the membership expires there
                logger.warning("could not leave the events group: %r", exc)

    def recipients(self, groups: list[str]) -> set[Recipient]:
        found: set[Recipient] = set()
        for group in groups:
            found |= self._members.get(group, set())
        return found

    async def _receive(
        self, layer: BaseChannelLayer, channel: str, joined: bool, inbox: asyncio.Queue[Any]
    ) -> None:
        while True:
            if not joined:
                await asyncio.sleep(RETRY_SECONDS)
                joined = await self._join_group(layer, channel)
                if joined:
                    await self._events_lost()
                    self._last_number.clear()
                continue
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("task events: the channel layer failed (%r); retrying", exc)
                joined = False
                continue
            await inbox.put(message)

    async def _hand_out_inbox(self, inbox: asyncio.Queue[Any]) -> None:
        while True:
            messages = [await inbox.get()]
            events = _event_count(messages[0])
            while events < MAX_BATCH_EVENTS and not inbox.empty():
                messages.append(inbox.get_nowait())
                events += _event_count(messages[-1])
            try:
                await self._dispatch(*messages)
            except Exception:
                # Whatever the messages do, the process goes on with the next ones.
                logger.exception("task events: layer messages could not be handed out")

    async def _events_lost(self) -> None:
        for recipient in self._every_socket():
            try:
                await recipient.events_lost()
            except Exception:
                logger.exception("a socket could not be told that events were lost")

    def _every_socket(self) -> set[Recipient]:
        return set().union(*self._members.values())

    async def _dispatch(self, *messages: Any) -> None:
        """Hand out the events of `messages`, in order, each socket's in one go."""
        pending: list[tuple[list[str], dict[str, Any]]] = []
        for message in messages:
            try:
                events, missed, after = self._checked(message)
            except Exception:
                # Whatever one message does, the others still go out.
                logger.exception("task events: a layer message could not be handed out")
                continue
            if missed:
                # Which sockets the lost events were for is not known: every socket gets
                # what it may see since the sender's last event that arrived, after the
                # events that came before.
                await self._hand_out(pending)
                pending = []
                await self._catch_up(after)
            pending.extend(events)
        await self._hand_out(pending)

    def _checked(self, message: Any) -> tuple[list[tuple[list[str], dict[str, Any]]], int, int]:
        """The message's events, and how many messages before it never arrived (with the
        last event id that did)."""
        # What comes out of Redis is checked before it is trusted: a message of
        # another shape (another version of the sender, or not ours) is dropped.
        events = _events_of(message)
        if events is None:
            logger.warning("task events: a malformed layer message was dropped")
            return [], 0, 0
        missed, after = self._missed_before(message, events[-1][1]["event"])
        if missed:
            TASK_EVENTS_MISSED.inc(missed)
            logger.warning(
                "task events: %d message(s) from %.100s never arrived (expired or dropped by"
                " the channel layer); this process's sockets catch up after event %d",
                missed,
                message["sender"],
                after,
            )
        return events, missed, after

    async def _hand_out(self, events: list[tuple[list[str], dict[str, Any]]]) -> None:
        """Each event to the local sockets of its groups; several events go to each
        socket together (`deliver_many`), its own of them in order."""
        encoded: list[tuple[int, str, bytes, set[Recipient]]] = []
        audience_changed = False
        for groups, event in events:
            try:
                text = json.dumps(event)
            except (TypeError, ValueError):
                logger.warning(
                    "task events: event %s could not be encoded; dropped", event["event"]
                )
                continue
            recipients = self.recipients(groups)
            if recipients:
                encoded.append((event["event"], text, text_frame(text), recipients))
                audience_changed = audience_changed or kinds.changes_audience(event["type"])
        if len(encoded) == 1:
            # The usual case at a steady rate: no batch to build for each socket.
            await self._hand_out_one(*encoded[0])
        elif encoded:
            batches: dict[Recipient, list[tuple[int, str, bytes | None]]] = {}
            for event_id, text, frame, recipients in encoded:
                for recipient in recipients:
                    batches.setdefault(recipient, []).append((event_id, text, frame))
            await self._hand_out_batches(batches)
        if audience_changed:
            # A member added or removed here: this process's sockets take their new
            # audience keys now, not at the next periodic check.
            identity_watch().check_soon()

    async def _hand_out_one(
        self, event_id: int, text: str, frame: bytes, recipients: set[Recipient]
    ) -> None:
        for handed, recipient in enumerate(recipients, 1):
            try:
                await recipient.deliver(event_id, text, frame)
            except Exception:
                # One socket's failure must not keep the event from the others.
                logger.exception("task event %s not delivered to a socket", event_id)
            if handed % SOCKETS_PER_TURN == 0:
                await asyncio.sleep(0)  # the frames framed so far leave now

    async def _hand_out_batches(
        self, batches: dict[Recipient, list[tuple[int, str, bytes | None]]]
    ) -> None:
        for handed, (recipient, batch) in enumerate(batches.items(), 1):
            try:
                await recipient.deliver_many(batch)
            except Exception:
                logger.exception("task events %s not delivered to a socket", [e[0] for e in batch])
            if handed % SOCKETS_PER_TURN == 0:
                await asyncio.sleep(0)

    async def _catch_up(self, after: int) -> None:
        for recipient in self._every_socket():
            try:
                await recipient.catch_up(after)
            except Exception:
                logger.exception("a socket could not catch up after lost events")

    def _missed_before(self, message: dict[str, Any], last_event: int) -> tuple[int, int]:
        """How many of the sender's messages before this one never arrived, and the
        event id of its last one that did (the lost ones come after it: a process
        sends its events in the order of their numbers, realtime.sending).

        A message that comes late or twice counts nothing (a socket skips an event it
        was already sent); one without a number (a sender from before numbering) is
        not checked.
        """
        sender, number = message.get("sender"), message.get("number")
        if not isinstance(sender, str) or type(number) is not int:
            return 0, 0
        last_number, last_arrived = self._last_number.get(sender, (None, 0))
        if last_number is not None and number <= last_number:
            return 0, 0
        if last_number is None and len(self._last_number) >= MAX_SENDERS:
            self._last_number.clear()
        self._last_number[sender] = (number, last_event)
        return (0 if last_number is None else number - last_number - 1), last_arrived

    async def _rejoin_now_and_then(self, layer: BaseChannelLayer, channel: str) -> None:
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            await self._join_group(layer, channel)

    async def _join_group(self, layer: BaseChannelLayer, channel: str) -> bool:
        try:
            await layer.group_add(EVENTS_GROUP, channel)
        except Exception as exc:
            logger.warning("task events: could not join the events group (%r)", exc)
            return False
        return True


def _events_of(message: Any) -> list[tuple[list[str], dict[str, Any]]] | None:
    """The (groups, event) pairs of a layer message (realtime.sending: one event as
    `groups` and `message`, a batch as a list of those under `events`); None unless
    the message and every event in it are well formed."""
    if not isinstance(message, dict) or message.get("type") != EVENT_MESSAGE_TYPE:
        return None
    batch = message.get("events", [message])
    if not isinstance(batch, list) or not batch:
        return None
    events = []
    for item in batch:
        if not isinstance(item, dict) or not _well_formed(item.get("groups"), item.get("message")):
            return None
        events.append((item["groups"], item["message"]))
    return events


def _well_formed(groups: Any, event: Any) -> bool:
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        return False
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return False
    kind = kinds.kind_of(event["type"])
    if kind is None or event.keys() != EVENT_FIELDS | {kind.name}:
        return False
    event_id = event["event"]
    return (
        type(event_id) is int
        and event_id > 0
        and isinstance(event[kind.name], dict)
        and isinstance(event["changes"], dict)
    )


def _event_count(message: Any) -> int:
    batch = message.get("events") if isinstance(message, dict) else None
    return len(batch) if isinstance(batch, list) else 1


_fanouts = PerLoop(LocalFanout)


def local_fanout() -> LocalFanout:
    """The fan-out of the running event loop."""
    return _fanouts.get()


def channel_layer() -> BaseChannelLayer:
    """The default layer (the sender in realtime.sending and the fan-out use the same)."""
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer.")
    return layer
