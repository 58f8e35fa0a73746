"""`/ws/tasks/`: task events, live, to everyone allowed to see them (docs/asyncapi.yaml).

A connection follows its user's group, and the "all tasks" group while the user
holds `tasks.view_any_task`. The identity is checked again every few seconds, so a
logout, a replayed refresh token, a deactivation or an expired token closes the
socket with 4401 without the client sending anything; the same check follows role
changes into and out of the "all tasks" group.
"""

import asyncio
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.models import User
from accounts.websocket import SocketAuthError, SocketIdentity, identify_token, recheck
from monitoring.logs import REQUEST_ID_HEADER
from monitoring.metrics import WEBSOCKETS_OPEN
from tasks import events
from tasks.selectors import task_events_visible_to

UNAUTHORIZED = 4401
MESSAGE_TOO_BIG = 1009
# Client messages are a few dozen bytes; anything much larger is refused unread.
MAX_MESSAGE_CHARS = 4096
# A resume sends at most this many events; `complete: false` asks for another.
RESUME_LIMIT = 1000
RESUME_BATCH = 200
# channels-redis forgets group members after `group_expiry` (a day); a socket
# that lives longer joins its groups again now and then.
REJOIN_SECONDS = 3600

logger = logging.getLogger(__name__)


class RecentIds:
    """The ids of the last events sent on a socket: an event reaches a manager both
    through their own group and the "all tasks" group, and a resume may overlap
    what already arrived live."""

    def __init__(self, size: int = 4096) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._size = size

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: int) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


class TaskEventConsumer(AsyncWebsocketConsumer):
    identity: SocketIdentity | None
    user: User | None

    async def connect(self) -> None:
        self.identity, self.user = None, None
        self.joined: set[str] = set()
        self.sent = RecentIds()
        self.closing = False
        self.background: set[asyncio.Task[None]] = set()
        self.rejoined_at = self.opened_at = time.monotonic()
        WEBSOCKETS_OPEN.inc()
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
        self.closing = True
        for task in self.background:
            task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.clear()
        WEBSOCKETS_OPEN.dec()
        self.log(
            "websocket closed", code=code, duration_s=round(time.monotonic() - self.opened_at, 3)
        )

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
        self.spawn(self.keep_checking(identity))

    async def expect_auth(self) -> None:
        await asyncio.sleep(settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS)
        if self.identity is None:
            await self.refuse("No credentials within the time allowed.")

    async def keep_checking(self, identity: SocketIdentity) -> None:
        interval = float(settings.WEBSOCKET_RECHECK_SECONDS)
        while not self.closing:
            # Jitter spreads the checks of sockets opened together.
            delay = interval * random.uniform(0.8, 1.0)  # noqa: S311
            if identity.expires_at is not None:
                delay = min(delay, max(0.0, identity.expires_at - time.time()))
            await asyncio.sleep(delay)
            user = await database_sync_to_async(recheck)(identity)
            if user is None:
                await self.refuse("The session has ended or the token expired.")
                return
            self.user = user
            await self.join_groups(user)

    async def join_groups(self, user: User) -> None:
        wanted = {events.user_group(user.pk)}
        if user.has_perm("tasks.view_any_task"):
            wanted.add(events.ALL_TASKS_GROUP)
        to_join = wanted - self.joined
        if time.monotonic() - self.rejoined_at > REJOIN_SECONDS:
            to_join, self.rejoined_at = wanted, time.monotonic()
        for group in to_join:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = wanted

    async def refuse(self, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.log("websocket refused", reason=reason)
        await self.send_error("unauthorized", reason)
        await self.close(code=UNAUTHORIZED)

    # Events.

    async def task_event(self, layer_message: dict[str, Any]) -> None:
        """An event from the channel layer (tasks.events._send)."""
        message = layer_message["message"]
        if self.closing or self.identity is None or message["event"] in self.sent:
            return
        self.sent.add(message["event"])
        await self.send_json(message)

    async def resume(self, after: int) -> None:
        """Missed events, oldest first. The socket already follows its groups, so an
        event committed while this reads arrives live afterwards, and is sent once."""
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
