"""`/ws/tasks/`: task events, live, to everyone allowed to see them (docs/asyncapi.yaml).

A connection follows its user's group, and the "all tasks" group while the user
holds `tasks.view_any_task`; the process's fan-out (tasks.fanout) hands it the events
of those groups. The process checks the identities of its sockets every few seconds
(accounts.websocket.IdentityWatch), so a logout, a replayed refresh token or a
deactivation closes the socket with 4401 without the client sending anything, as
does the token's expiry, at that moment; the same check follows role changes into
and out of the "all tasks" group.
"""

import asyncio
import json
import logging
import time
from bisect import bisect_left
from collections.abc import Coroutine
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.models import User
from accounts.websocket import (
    SocketAuthError,
    SocketIdentity,
    identify_token,
    identity_watch,
)
from monitoring.logs import REQUEST_ID_HEADER
from monitoring.metrics import WEBSOCKETS_OPEN
from tasks import events
from tasks.fanout import local_fanout
from tasks.selectors import task_events_visible_to

UNAUTHORIZED = 4401
# Events may have been missed and the server cannot send them itself (the channel
# layer failed, or a catch-up found more than a resume sends): reconnect and resume.
RESUME_NEEDED = 4503
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
# Client messages: a ping now and then, a resume after a reconnect. Each costs the
# server work (a resume reads up to 1000 events), so a socket may send MESSAGE_RATE a
# second, MESSAGE_BURST at once; past that each gets `rate_limited`, and a client
# that sends MESSAGE_BURST more regardless is closed with 1008.
MESSAGE_RATE = 10.0
MESSAGE_BURST = 20
# Client messages are a few dozen bytes; anything much larger is refused unread.
MAX_MESSAGE_CHARS = 4096
# A resume sends at most this many events; `complete: false` asks for another.
RESUME_LIMIT = 1000
RESUME_BATCH = 200
# No channel-layer alias by this name: a socket gets no layer channel of its own
# (Channels skips it when the alias has no layer); its events come from
# tasks.fanout, which follows the groups for the whole process.
NO_OWN_CHANNEL = "tasks.sockets-have-no-own-channel"

logger = logging.getLogger(__name__)


class SentIds:
    """The highest event ids sent on a socket, at most `size` (a resume looks at no
    more), kept sorted: an event is handed over once, but a resume may overlap what
    already arrived live. Live events come in id order but for the odd one another
    process sent a moment later, so adding is nearly always an append. A list of
    1,000 ids costs 8 KB per socket (the ints are the fan-out's, shared by every
    socket); an OrderedDict of the last 4,096 cost about 470 KB (`make soak`).
    """

    def __init__(self, size: int) -> None:
        self._ids: list[int] = []
        self._size = size

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, int):
            return False
        ids = self._ids
        at = bisect_left(ids, event_id)
        return at < len(ids) and ids[at] == event_id

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: int) -> None:
        ids = self._ids
        if not ids or event_id > ids[-1]:
            ids.append(event_id)
        else:
            at = bisect_left(ids, event_id)
            if at < len(ids) and ids[at] == event_id:
                return
            ids.insert(at, event_id)
        if len(ids) > self._size:
            del ids[0]


class MessageBudget:
    """A token bucket: `rate` messages a second, at most `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()
        self.refused_in_a_row = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            self.refused_in_a_row += 1
            return False
        self.tokens -= 1
        self.refused_in_a_row = 0
        return True


class TaskEventConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = NO_OWN_CHANNEL
    identity: SocketIdentity | None
    user: User | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identity, self.user = None, None
        self.joined: set[str] = set()
        self.sent = SentIds(RESUME_LIMIT)
        self.budget = MessageBudget(MESSAGE_RATE, MESSAGE_BURST)
        # Events handed over while the socket is not ready for them (before `ready`,
        # during a resume); sent, in order, right after.
        self.held: list[tuple[int, str]] | None = []
        self.closing = False
        self.background: set[asyncio.Task[None]] = set()
        self.opened_at = time.monotonic()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Counted and let go around the whole connection: a consumer that fails (the
        # layer down at the handshake) never reaches `disconnect`.
        WEBSOCKETS_OPEN.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            WEBSOCKETS_OPEN.dec()
            await self.let_go()

    async def connect(self) -> None:
        request_id = self.scope.get("request_id")
        await self.accept(
            headers=[(REQUEST_ID_HEADER.encode(), request_id.encode())] if request_id else None
        )
        if self.scope.get("auth_error"):
            await self.refuse(self.scope["auth_error"])
        elif self.scope.get("auth") is not None:
            await self.authenticated(self.scope["auth"], self.scope["user"])
        else:
            self.spawn(self.expect_auth())

    async def disconnect(self, code: int) -> None:
        await self.let_go()
        self.log(
            "websocket closed", code=code, duration_s=round(time.monotonic() - self.opened_at, 3)
        )

    async def let_go(self) -> None:
        """Stop everything the socket started (idempotent)."""
        self.closing = True
        identity_watch().discard(self)
        for task in self.background:
            task.cancel()
        fanout = local_fanout()
        joined, self.joined = self.joined, set()
        for group in joined:
            await fanout.leave(group, self)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Events wait while a client message is handled, from the moment it arrives:
        a `resume` sent before an event was committed is answered before that event."""
        if message["type"] != "websocket.receive" or self.held is not None:
            await super().dispatch(message)
            return
        self.held = []
        try:
            await super().dispatch(message)
        finally:
            await self.release_held()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if text_data is None:
            await self.send_error("invalid_message", "Messages are JSON text frames.")
            return
        if len(text_data) > MAX_MESSAGE_CHARS:
            await self.send_error(
                "message_too_large", f"Messages are at most {MAX_MESSAGE_CHARS} characters."
            )
            self.closing = True
            await self.close(code=MESSAGE_TOO_BIG)
            return
        if not self.budget.take():
            await self.over_budget()
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.send_error("invalid_message", 'A message is an object with a "type".')
            return
        if self.identity is None:
            await self.first_message(message)
        else:
            await self.dispatch_client_message(message)

    async def over_budget(self) -> None:
        if self.budget.refused_in_a_row <= MESSAGE_BURST:
            await self.send_error(
                "rate_limited", f"At most {MESSAGE_RATE:g} messages a second; this one was dropped."
            )
            return
        self.closing = True
        self.log("websocket closed for flooding")
        await self.close(code=POLICY_VIOLATION)

    async def first_message(self, message: dict[str, Any]) -> None:
        token = message.get("token")
        if message["type"] != "auth" or not isinstance(token, str) or not token:
            await self.refuse('The first message must be {"type": "auth", "token": "<access>"}.')
            return
        try:
            identity, user = await database_sync_to_async(identify_token)(token)
        except SocketAuthError as exc:
            await self.refuse(str(exc))
            return
        await self.authenticated(identity, user)

    async def dispatch_client_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "resume":
            after = message.get("after")
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                await self.send_error("invalid_message", '"after" must be an event id (0 or more).')
                return
            await self.resume(after)
        elif kind == "auth":
            await self.send_error("invalid_message", "This socket is already authenticated.")
        else:
            await self.send_error("unknown_type", f'Unknown message type "{kind[:50]}".')

    # Authentication and its upkeep.

    async def authenticated(self, identity: SocketIdentity, user: User) -> None:
        if self.closing:  # refused (the auth timeout) while the token was checked
            return
        self.identity, self.user = identity, user
        self.log("websocket authenticated", via=identity.via)
        await self.join_groups(user)
        await self.send_json({"type": "ready", "user": user.pk})
        await self.release_held()
        identity_watch().add(self)
        if identity.expires_at is not None:
            self.spawn(self.close_at_expiry(identity.expires_at))

    async def expect_auth(self) -> None:
        await asyncio.sleep(settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS)
        if self.identity is None:
            await self.refuse("No credentials within the time allowed.")

    async def close_at_expiry(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self.refuse("The token expired.")

    async def rechecked(self, user: User | None) -> None:
        """The identity checked again (IdentityWatch): the fresh user, or None."""
        if self.closing:
            return
        if user is None:
            await self.refuse("The session has ended or the token expired.")
            return
        self.user = user
        await self.join_groups(user)

    async def join_groups(self, user: User) -> None:
        wanted = {events.user_group(user.pk)}
        if user.has_perm("tasks.view_any_task"):
            wanted.add(events.ALL_TASKS_GROUP)
        fanout = local_fanout()
        for group in wanted - self.joined:
            await fanout.join(group, self)
        for group in self.joined - wanted:
            await fanout.leave(group, self)
        self.joined = wanted

    async def refuse(self, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.log("websocket refused", reason=reason)
        await self.send_error("unauthorized", reason)
        await self.close(code=UNAUTHORIZED)

    # Events.

    async def deliver(self, event_id: int, text: str) -> None:
        """An event of one of this socket's groups, JSON-encoded (tasks.fanout)."""
        if self.closing or event_id in self.sent:
            return
        if self.held is not None:
            self.held.append((event_id, text))
            return
        self.sent.add(event_id)
        await self.send(text_data=text)

    async def catch_up(self, after: int) -> None:
        """A message that never reached this process may have held events of this
        socket's after `after` (tasks.fanout): they are read from the outbox in the
        background and sent like any event, each once (in any order, as events from
        several processes arrive). More than a resume sends, or a failed read: the
        socket is closed for its client to resume."""
        if not self.closing and self.user is not None:
            self.spawn(self._catch_up(self.user, after))

    async def _catch_up(self, user: User, after: int) -> None:
        try:
            missed = await database_sync_to_async(missed_events)(user, after, RESUME_LIMIT + 1)
        except Exception:
            logger.exception("a socket could not read the events it missed")
            missed = None
        if missed is None or len(missed) > RESUME_LIMIT:
            await self.events_lost()
            return
        for message in missed:
            await self.deliver(message["event"], json.dumps(message))

    async def events_lost(self) -> None:
        """Events may have been missed and cannot be sent from here (tasks.fanout):
        the layer failed and is back, or a catch-up had too many to send."""
        if self.closing:
            return
        self.closing = True
        self.log("websocket closed to resume: events may be missing")
        await self.close(code=RESUME_NEEDED)

    async def release_held(self) -> None:
        held, self.held = self.held or [], None
        for event_id, text in held:
            await self.deliver(event_id, text)

    async def resume(self, after: int) -> None:
        """Missed events, oldest first. The socket already follows its groups, so an
        event committed while this reads is held (`dispatch`) and sent once, after."""
        user = self.user
        if user is None:
            return
        last, count, looked_at, more = after, 0, 0, False
        while looked_at < RESUME_LIMIT:
            limit = min(RESUME_BATCH, RESUME_LIMIT - looked_at)
            # One more than asked tells whether the limit cut the resume short.
            batch = await database_sync_to_async(missed_events)(user, last, limit + 1)
            more = len(batch) > limit
            for message in batch[:limit]:
                last = message["event"]
                if message["event"] not in self.sent:
                    self.sent.add(message["event"])
                    await self.send_json(message)
                    count += 1
            looked_at += min(len(batch), limit)
            if not more:
                break
        complete = looked_at < RESUME_LIMIT or not more
        await self.send_json(
            {"type": "resumed", "after": after, "last": last, "count": count, "complete": complete}
        )

    # Plumbing.

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    def log(self, message: str, **fields: Any) -> None:
        """A connection record; the request id comes from monitoring.logs."""
        user_id = self.user.pk if self.user else None
        logger.info(message, extra={"path": self.scope["path"], "user_id": user_id, **fields})

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def missed_events(user: User, after: int, limit: int) -> list[dict[str, Any]]:
    visible = task_events_visible_to(user).filter(id__gt=after)[:limit]
    return [events.socket_message(event) for event in visible]
