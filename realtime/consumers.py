"""`/ws/tasks/`: events, live, to everyone allowed to see them (docs/asyncapi.yaml).

A connection follows its user's audience keys (activity.kinds.keys_of), re-checked
with its identity every few seconds (realtime.authentication.IdentityWatch); the
process's fan-out (realtime.fanout) hands it their events. docs/realtime.md has the
rules: authentication, resume, gaps, client messages.
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
from django.db import InterfaceError, OperationalError

from accounts.authentication import SESSION_ENDED
from accounts.models import User
from activity import kinds
from activity.selectors import event_message, events_visible_to
from monitoring.logs import REQUEST_ID_HEADER
from realtime.authentication import (
    SocketAuthError,
    SocketIdentity,
    error_frame,
    identify_token,
    identity_watch,
)
from realtime.fanout import local_fanout
from realtime.frames import FRAMES_EXTENSION, frames_message, send_message
from taskmanager.metrics import WEBSOCKETS_OPEN

# Close codes are the application's own (4000-4999, after the HTTP status): daphne's
# WebSocket library refuses any other but 1000 from an application, and a refused
# code became 1011 and a traceback.
UNAUTHORIZED = 4401
MESSAGE_TOO_BIG = 4413
FLOODING = 4429
# Events may have been missed and the server cannot send them itself (the channel
# layer failed, or a catch-up found more than a resume sends), or a message could not
# be handled (the database down): reconnect and resume.
RESUME_NEEDED = 4503
# Client messages: a ping now and then, a resume after a reconnect. Each costs the
# server work and an answer (a resume reads up to 1000 events), so a socket may send
# MESSAGE_RATE a second, MESSAGE_BURST at once; past that each is dropped with a
# `throttled` error. Drops are forgiven at DROPS_FORGIVEN a second; a socket with
# more than MESSAGE_BURST unforgiven drops is closed with FLOODING: however fast a
# client writes, it gets at most about MESSAGE_RATE + DROPS_FORGIVEN answers a second.
MESSAGE_RATE = 10.0
MESSAGE_BURST = 20
DROPS_FORGIVEN = 1.0
# Client messages are a few dozen characters (an auth message a few hundred), before
# and after authentication; anything much larger is refused unread and closes.
MAX_MESSAGE_CHARS = 4096
# Client messages are flat objects; the limit only keeps parsing and checking cheap
# and the same on every machine (nesting past Python's stack fails the parser).
MAX_MESSAGE_DEPTH = 32
FIRST_MESSAGE = (
    'Authentication is required: the first message must be {"type": "auth", "token":'
    ' "<access token>"}, or connect with the token.'
)
# Error codes are the HTTP API's for the same case (taskmanager.exceptions).
NOT_AUTHENTICATED = "not_authenticated"
AUTHENTICATION_FAILED = "authentication_failed"
# A resume sends at most this many events; `complete: false` asks for another.
RESUME_LIMIT = 1000
RESUME_BATCH = 200
# No channel-layer alias by this name: a socket gets no layer channel of its own
# (Channels skips it when the alias has no layer); its events come from
# realtime.fanout, one layer channel for the whole process.
NO_OWN_CHANNEL = "tasks.sockets-have-no-own-channel"

logger = logging.getLogger(__name__)


class SentIds:
    """The highest event ids sent on a socket, at most `size` (a resume looks at no
    more), kept sorted: an event is handed over once, but a resume may overlap what
    already arrived live. Live events come in id order but for the odd one another
    process sent a moment later, so adding is nearly always an append. A sorted list
    keeps a socket's memory small at thousands of sockets (the ints are the fan-out's,
    shared by every socket; bench/RESULTS.md, "What the soak found").
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
        self.add_new(event_id)

    def add_new(self, event_id: int) -> bool:
        """Add `event_id`; False if it was there already (nothing is to be sent)."""
        ids = self._ids
        if not ids or event_id > ids[-1]:
            ids.append(event_id)
        else:
            at = bisect_left(ids, event_id)
            if at < len(ids) and ids[at] == event_id:
                return False
            ids.insert(at, event_id)
        if len(ids) > self._size:
            del ids[0]
        return True


class MessageBudget:
    """A token bucket: `rate` messages a second, at most `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class InvalidJSON(ValueError):
    """A client message that is not a JSON object this server takes."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError("a number past the range of a double")
    return number


def parse_message(text: str) -> dict[str, Any]:
    """A client message: a JSON object of Unicode text and finite numbers, nested at
    most MAX_MESSAGE_DEPTH deep. Anything else is InvalidJSON, never another error.
    (Integers may be long: MAX_MESSAGE_CHARS keeps them under Python's 4300 digits,
    and a resume after any id past the last one resumes nothing.)"""
    try:
        message = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidJSON("The message is nested too deeply.") from None
    except ValueError:
        raise InvalidJSON("The message is not valid JSON.") from None
    if not isinstance(message, dict):
        raise InvalidJSON("A message is a JSON object.")
    # Without recursion: the walk must not fail where the parser did not.
    pending: list[tuple[Any, int]] = [(message, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_MESSAGE_DEPTH:
            raise InvalidJSON(f"The message is nested more than {MAX_MESSAGE_DEPTH} deep.")
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and not value.isascii():
            # A lone surrogate ("\ud800", or text a server decoded from invalid
            # UTF-8) is not text: no encoder, database or log line takes it.
            try:
                value.encode()
            except UnicodeEncodeError:
                raise InvalidJSON("A string holds a lone surrogate; it is not text.") from None
    return message


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
        self.drops = MessageBudget(DROPS_FORGIVEN, MESSAGE_BURST)
        # Events handed over while the socket is not ready for them (before `ready`,
        # during a resume); sent, in order, right after.
        self.held: list[tuple[int, str]] | None = []
        self.closing = False
        self.background: set[asyncio.Task[None]] = set()
        # Frames waiting behind a send the server holds back (`write`), in order; None
        # while no send waits.
        self.backlog: list[dict[str, Any]] | None = None
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
        if self.scope.get("auth_unavailable"):
            # The credentials could not be checked (realtime.authentication): try again later.
            self.log("websocket refused: database unavailable")
            await self.fail("service_unavailable", "The database is unavailable; reconnect later.")
        elif self.scope.get("auth_error"):
            await self.refuse(self.scope["auth_error"], AUTHENTICATION_FAILED)
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
        if message["type"] != "websocket.receive":
            await super().dispatch(message)
            return
        hold = self.held is None
        if hold:
            self.held = []
        try:
            await super().dispatch(message)
        except (OperationalError, InterfaceError) as exc:
            # As for HTTP (taskmanager.exceptions): a line, not a traceback per socket.
            logger.warning(
                "database unavailable for a socket message: %s: %s", type(exc).__name__, exc
            )
            await self.fail("service_unavailable", "The database is unavailable; resume later.")
        except Exception:
            # Never daphne's 1011 and traceback: the client learns to resume.
            logger.exception("a socket message failed")
            await self.fail("server_error", "An unexpected error occurred; resume later.")
        finally:
            if hold:
                await self.release_held()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        frame: str | bytes = text_data if text_data is not None else bytes_data or b""
        if len(frame) > MAX_MESSAGE_CHARS:
            await self.send_error(
                "payload_too_large",
                f"The message is too large: a message is at most {MAX_MESSAGE_CHARS} characters.",
            )
            self.closing = True
            self.log("websocket closed for a message too large", chars=len(frame))
            await self.close(code=MESSAGE_TOO_BIG)
            return
        if not self.budget.take():
            await self.over_budget()
            return
        if self.identity is None:
            await self.first_message(frame)
            return
        if isinstance(frame, bytes):
            await self.send_error(
                "parse_error", "The message is a binary frame: send JSON in text frames."
            )
            return
        try:
            message = parse_message(frame)
        except InvalidJSON as exc:
            await self.send_error("parse_error", str(exc))
            return
        if not isinstance(message.get("type"), str):
            required = 'A "type" is required, a string: "ping" or "resume".'
            await self.send_error("validation_error", required, {"type": [required]})
            return
        await self.dispatch_client_message(message)

    async def over_budget(self) -> None:
        if self.drops.take():
            await self.send_error(
                "throttled",
                f"Too many messages: at most {MESSAGE_RATE:g} a second; this one was dropped.",
            )
            return
        self.closing = True
        self.log("websocket closed for flooding")
        await self.close(code=FLOODING)

    async def first_message(self, frame: str | bytes) -> None:
        """Before authentication only an `auth` message is taken; anything else (a
        binary frame, invalid JSON, another type) closes the socket with 4401."""
        try:
            message = parse_message(frame) if isinstance(frame, str) else None
        except InvalidJSON:
            message = None
        token = message.get("token") if message else None
        if message is None or message.get("type") != "auth" or not isinstance(token, str):
            await self.refuse(FIRST_MESSAGE, NOT_AUTHENTICATED)
            return
        if not token:
            await self.refuse(
                "The token is empty: send an access token from /api/v1/auth/login/.",
                AUTHENTICATION_FAILED,
            )
            return
        try:
            identity, user = await database_sync_to_async(identify_token)(token)
        except SocketAuthError as exc:
            # As at the handshake: a personal token without the socket's scopes is
            # `insufficient_scope` and 4403 (SocketScopeError), any other refusal 4401.
            await self.refuse(str(exc), exc.code, close_code=exc.close_code)
            return
        await self.authenticated(identity, user)

    async def dispatch_client_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "resume":
            after = message.get("after")
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                detail = '"after" must be an event id (a whole number, 0 or more).'
                await self.send_error("validation_error", detail, {"after": [detail]})
                return
            await self.resume(after)
        elif kind == "auth":
            detail = 'This socket is already authenticated: send "ping" or "resume".'
            await self.send_error("validation_error", detail, {"type": [detail]})
        else:
            detail = f'Unknown message type "{kind[:50]}": the types are "ping" and "resume".'
            await self.send_error("validation_error", detail, {"type": [detail]})

    # Authentication and its upkeep.

    async def authenticated(self, identity: SocketIdentity, user: User) -> None:
        if self.closing:  # refused (the auth timeout) while the token was checked
            return
        self.identity, self.user = identity, user
        self.log("websocket authenticated", via=identity.via)
        await self.join_groups(await database_sync_to_async(kinds.keys_of)(user))
        await self.send_json({"type": "ready", "user": user.pk})
        await self.release_held()
        identity_watch().add(self)
        if identity.expires_at is not None:
            self.spawn(self.close_at_expiry(identity.expires_at, identity.expired_message))

    async def expect_auth(self) -> None:
        await asyncio.sleep(settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS)
        if self.identity is None:
            await self.refuse(
                f"No credentials within {settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS:g} seconds:"
                " reconnect and authenticate first.",
                NOT_AUTHENTICATED,
            )

    async def close_at_expiry(self, expires_at: float, message: str) -> None:
        """Close when the token expires, with the identity's `expired_message` (an
        access token's wording or a personal token's)."""
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self.refuse(message, AUTHENTICATION_FAILED)

    async def rechecked(self, user: User | None, keys: set[str]) -> None:
        """The identity checked again (IdentityWatch): the fresh user and their
        audience keys, or None."""
        if self.closing:
            return
        if user is None:
            # In the words of the identity's kind: a token socket is told of its token.
            identity = self.identity
            if identity is None:
                message = SESSION_ENDED
            elif identity.expires_at is not None and time.time() >= identity.expires_at:
                message = identity.expired_message
            else:
                message = identity.ended_message
            await self.refuse(message, AUTHENTICATION_FAILED)
            return
        self.user = user
        await self.join_groups(keys)

    async def join_groups(self, wanted: set[str]) -> None:
        fanout = local_fanout()
        for group in wanted - self.joined:
            await fanout.join(group, self)
        for group in self.joined - wanted:
            await fanout.leave(group, self)
        self.joined = wanted

    async def refuse(self, reason: str, code: str, close_code: int = UNAUTHORIZED) -> None:
        """Close with 4401: no credentials (`not_authenticated`) or refused ones
        (`authentication_failed`), as the HTTP API's 401; or with the `close_code` of
        the refusal (4403 `insufficient_scope`: the HTTP API's 403)."""
        if self.closing:
            return
        self.closing = True
        self.log("websocket refused", reason=reason, code=close_code)
        await self.send_error(code, reason)
        await self.close(code=close_code)

    async def fail(self, code: str, message: str) -> None:
        """A client message could not be handled: the client reconnects and resumes."""
        if self.closing:
            return
        self.closing = True
        await self.send_error(code, message)
        await self.close(code=RESUME_NEEDED)

    # Events.

    async def deliver(self, event_id: int, text: str, frame: bytes | None = None) -> None:
        """An event of one of this socket's audience keys, JSON-encoded, and its frame
        when the fan-out framed it (realtime.fanout, realtime.frames).

        Called for every socket of the process for every event: the frame goes to the
        server's `send` itself (`write`), not through Channels' two `send` wrappers,
        and an id past every id sent (the live case) is taken without a search
        (issue 26)."""
        if self.closing:
            return
        if self.held is not None:
            if event_id not in self.sent:
                self.held.append((event_id, text))
            return
        if self.sent.add_new(event_id):
            self.write(send_message(text, frame))

    async def deliver_many(self, events: list[tuple[int, str, bytes | None]]) -> None:
        """Several events at once (the fan-out's batch), in order: where the server
        takes several frames in one message (FRAMES_EXTENSION), they leave in one write
        (issue 26)."""
        if self.closing:
            return
        if self.held is not None:
            self.held.extend(
                (event_id, text) for event_id, text, _ in events if event_id not in self.sent
            )
            return
        new = [(text, frame) for event_id, text, frame in events if self.sent.add_new(event_id)]
        if len(new) > 1 and FRAMES_EXTENSION in (self.scope.get("extensions") or {}):
            frames = [frame for _, frame in new if frame is not None]
            if len(frames) == len(new):
                self.write(frames_message([text for text, _ in new], frames))
                return
        for text, frame in new:
            self.write(send_message(text, frame))

    def write(self, message: dict[str, Any]) -> None:
        """Hand a frame to the server without waiting for the client.

        daphne's `send` never waits; uvicorn's waits while the socket's write buffer is
        over its high-water mark (a client that stopped reading). The fan-out hands an
        event to every socket of the process in turn, so one such client must not hold
        the others' frames back: a send that would wait is finished in the background,
        and the frames after it wait in `backlog` behind it, in order, until the client
        reads again or the server's ping drops it (docs/realtime.md, "Slow clients")."""
        if self.backlog is not None:
            self.backlog.append(message)
            return
        sending = self.base_send(message)
        try:
            waiting = sending.send(None)
        except StopIteration:
            return  # sent (the usual case: nothing to wait for)
        except OSError:
            # uvicorn's ClientDisconnected: the client is gone and the socket's
            # disconnect is on its way to `disconnect`; the frame has no one to go to.
            return
        self.backlog = []
        self.spawn(self._finish_writing(sending, waiting))

    async def _finish_writing(self, sending: Coroutine[Any, Any, None], waiting: Any) -> None:
        try:
            while True:
                # What the server's send yielded (a future it waits on) is awaited
                # here, then the send goes on where it stopped, as a task would.
                if waiting is None:
                    await asyncio.sleep(0)
                else:
                    # Taken over from the send that yielded it, as a task takes it.
                    waiting._asyncio_future_blocking = False
                    await waiting
                try:
                    waiting = sending.send(None)
                except StopIteration:
                    break
            while self.backlog:
                await self.base_send(self.backlog.pop(0))
        except Exception as exc:  # the client went away meanwhile
            logger.info("a socket's pending frames were not sent: %r", exc)
        finally:
            sending.close()
            self.backlog = None

    async def catch_up(self, after: int) -> None:
        """A message that never reached this process may have held events of this
        socket's after `after` (realtime.fanout): they are read from the outbox in the
        background and sent like any event, each once (in any order, as events from
        several processes arrive). More than a resume sends, or a failed read: the
        socket is closed for its client to resume."""
        if not self.closing and self.user is not None:
            self.spawn(self._catch_up(self.user, after))

    async def _catch_up(self, user: User, after: int) -> None:
        try:
            missed = await database_sync_to_async(missed_events)(user, after, RESUME_LIMIT + 1)
        except (OperationalError, InterfaceError) as exc:
            # Every socket of the process fails alike: a line each, not a traceback.
            logger.warning(
                "a socket could not read the events it missed: database unavailable: %s: %s",
                type(exc).__name__,
                exc,
            )
            missed = None
        except Exception:
            logger.exception("a socket could not read the events it missed")
            missed = None
        if missed is None or len(missed) > RESUME_LIMIT:
            await self.events_lost()
            return
        for message in missed:
            await self.deliver(message["event"], json.dumps(message))

    async def events_lost(self) -> None:
        """Events may have been missed and cannot be sent from here (realtime.fanout):
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
        text = json.dumps(content)
        if self.backlog is not None:
            # Behind the frames a slow client has not taken yet (`write`), in order.
            self.backlog.append({"type": "websocket.send", "text": text})
            return
        await self.send(text_data=text)

    def log(self, message: str, **fields: Any) -> None:
        """A connection record; the request id comes from monitoring.logs."""
        user_id = self.user.pk if self.user else None
        logger.info(message, extra={"path": self.scope["path"], "user_id": user_id, **fields})

    async def send_error(
        self, code: str, message: str, fields: dict[str, list[str]] | None = None
    ) -> None:
        """The error shape of the API (realtime.authentication.error_frame)."""
        await self.send_json(error_frame(code, message, fields))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def missed_events(user: User, after: int, limit: int) -> list[dict[str, Any]]:
    visible = events_visible_to(user).filter(id__gt=after)[:limit]
    return [event_message(event) for event in visible]
