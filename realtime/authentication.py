"""Who is on the other end of a WebSocket, checked at the handshake (a Bearer header,
`?token=` or the session cookie; a first `auth` message goes through `identify_token`)
and again every few seconds while it stays open (`IdentityWatch`), with the checks of
an HTTP request. The rules: docs/realtime.md, "Authentication" and "Staying
authenticated".

Each token may be an access token or a personal API token (`tm_pat_...`,
docs/personal-tokens.md): the latter needs the scopes of /sync/ (SOCKET_SCOPES),
and its socket closes, as a session's, once the token is deleted or expires or its
user is deactivated or changes their password.
"""

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.http import parse_cookie
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from accounts import auth_cache, personal_tokens, scopes
from accounts.authentication import (
    EXPIRED_ACCESS,
    INVALID_ACCESS,
    PAT_ENDED,
    PAT_EXPIRED,
    SESSION_ENDED,
    SessionJWTAuthentication,
    authenticate_personal_token,
    refusal_message,
)
from accounts.models import User
from activity import kinds
from realtime.loops import PerLoop

Scope = dict[str, Any]
logger = logging.getLogger(__name__)


# After the HTTP status, as the consumer's close codes (realtime.consumers).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403


class SocketAuthError(Exception):
    """The credentials presented are not (or no longer) valid; the message says why
    and what to do, as the HTTP API's 401 does (`code`, then `close_code`)."""

    code = "authentication_failed"
    close_code = CLOSE_UNAUTHORIZED


class SocketScopeError(SocketAuthError):
    """A personal token without the scopes a socket needs: the HTTP API's 403."""

    code = "insufficient_scope"
    close_code = CLOSE_FORBIDDEN


LOGIN_SESSION_ENDED = "The login session has ended: log in again."
UNUSABLE_CREDENTIALS = (
    'No usable token: send "Authorization: Bearer <access token>" or ?token=<access token>.'
)


def error_frame(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's error shape as a socket message (docs/asyncapi.yaml)."""
    return {"type": "error", "error": {"code": code, "message": message, "fields": fields or {}}}


class SocketRefusal:
    """An ASGI app for a socket refused before any consumer: accepted, so the client
    can read why (a refused handshake is an empty HTTP 403 or 500 that no browser
    shows), then an error message and the close code."""

    def __init__(self, code: str, message: str, close_code: int) -> None:
        self.message = message
        self.frame = json.dumps(error_frame(code, message))
        self.close_code = close_code

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        logger.info("websocket refused", extra={"path": scope.get("path"), "reason": self.message})
        request_id = scope.get("request_id")
        headers = [(b"x-request-id", request_id.encode())] if request_id else []
        await send({"type": "websocket.accept", "headers": headers})
        await send({"type": "websocket.send", "text": self.frame})
        await send({"type": "websocket.close", "code": self.close_code})


@dataclass(frozen=True)
class SocketIdentity:
    user_id: int
    via: Literal["token", "cookie", "personal_token"]
    # The JWT session id (`sid` claim), the Django session key, or the hash of the
    # personal token.
    session: str
    # When the token expires (Unix time); a cookie session has no fixed end, nor a
    # personal token made without an expiry.
    expires_at: float | None = None
    # What the client is told when the socket closes because the token expired, or
    # the session (or token) ended.
    expired_message: str = EXPIRED_ACCESS
    ended_message: str = SESSION_ENDED


def identify_token(raw: str) -> tuple[SocketIdentity, User]:
    """An access token or a personal API token, checked exactly as for an HTTP
    request."""
    if raw.startswith(personal_tokens.PREFIX):
        return identify_personal_token(raw)
    authentication = SessionJWTAuthentication()
    try:
        # A JWT is ASCII: anything else (a lone surrogate too) is no token.
        token = authentication.get_validated_token(raw.encode("ascii"))
        user = authentication.get_user(token)
    except AuthenticationFailed as exc:  # InvalidToken is one too
        raise SocketAuthError(refusal_message(exc)) from exc
    except UnicodeEncodeError as exc:
        raise SocketAuthError(INVALID_ACCESS) from exc
    identity = SocketIdentity(user.pk, "token", str(token["sid"]), float(token["exp"]))
    return identity, user


def identify_personal_token(raw: str) -> tuple[SocketIdentity, User]:
    """A personal API token with the socket's scopes (SocketScopeError without)."""
    try:
        user, auth = authenticate_personal_token(raw)
        scopes.check(auth.scopes, scopes.SOCKET_SCOPES)
    except scopes.InsufficientScope as exc:
        raise SocketScopeError(str(exc.detail)) from exc
    except AuthenticationFailed as exc:
        raise SocketAuthError(refusal_message(exc)) from exc
    identity = SocketIdentity(
        user.pk,
        "personal_token",
        auth.key_hash,
        auth.expires_at.timestamp() if auth.expires_at is not None else None,
        expired_message=PAT_EXPIRED,
        ended_message=PAT_ENDED,
    )
    return identity, user


def identify_session(session_key: str) -> tuple[SocketIdentity, User]:
    """A Django login session (the browsable API's and the live page's)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    user_id = data.get(SESSION_KEY)
    session_hash = data.get(HASH_SESSION_KEY)
    if (
        user_id is None
        or not isinstance(session_hash, str)
        or data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS
    ):
        raise SocketAuthError(LOGIN_SESSION_ENDED)
    user = auth_cache.session_cookie_user(int(user_id), session_hash)
    if user is None:
        raise SocketAuthError(LOGIN_SESSION_ENDED)
    return SocketIdentity(user.pk, "cookie", session_key), user


def recheck_many(identities: Sequence[SocketIdentity]) -> list[User | None]:
    """Each identity's user, fresh (role and permissions included), while it is
    still valid; None once the token expired or the session or user is done. The
    identities of tokens in one cache round trip."""
    now = time.time()
    live = [
        identity
        for identity in identities
        if identity.via != "cookie" and (identity.expires_at is None or now < identity.expires_at)
    ]
    live_tokens = [(i.user_id, i.session) for i in live if i.via == "token"]
    by_token = dict(zip(live_tokens, auth_cache.authenticated_users(live_tokens), strict=True))
    by_personal_token = _recheck_personal_tokens([i for i in live if i.via == "personal_token"])
    result: list[User | None] = []
    for identity in identities:
        if identity.via == "token":
            result.append(by_token.get((identity.user_id, identity.session)))
        elif identity.via == "personal_token":
            result.append(by_personal_token.get(identity.session))
        else:
            result.append(_recheck_cookie(identity))
    return result


def _recheck_personal_tokens(identities: Sequence[SocketIdentity]) -> dict[str, User]:
    """The users of the personal tokens still live, by the tokens' hashes: their
    entries in one cache round trip, their users' in another. A token not live (or
    no longer its socket's user's) is left out."""
    hashes = list(dict.fromkeys(identity.session for identity in identities))
    if not hashes:
        return {}
    owners = {i.session: i.user_id for i in identities}
    states = dict(zip(hashes, auth_cache.personal_token_states(hashes), strict=True))
    user_ids = {state["user_id"] for state in states.values() if state is not None}
    read = cache.get_many([auth_cache.user_key(user_id) for user_id in user_ids])
    users: dict[int, User | None] = {}
    live: dict[str, User] = {}
    now = timezone.now()
    for key_hash, state in states.items():
        if state is None or state["user_id"] != owners[key_hash]:
            continue
        if state["expires_at"] is not None and state["expires_at"] <= now:
            continue
        user_id = state["user_id"]
        if user_id not in users:
            users[user_id] = auth_cache.active_user(user_id, read)
        user = users[user_id]
        if user is not None and not auth_cache.personal_token_outlived(state, user):
            live[key_hash] = user
    return live


def _recheck_cookie(identity: SocketIdentity) -> User | None:
    try:
        _, user = identify_session(identity.session)
    except SocketAuthError:
        return None
    return user if user.pk == identity.user_id else None


def recheck_with_keys(
    identities: Sequence[SocketIdentity],
) -> tuple[list[User | None], dict[int, set[str]]]:
    """`recheck_many`, with the audience keys of each user still valid (their
    projects read in one query): a member removed from a project leaves its audience
    at the next check."""
    users = recheck_many(identities)
    return users, kinds.keys_of_many({u.pk: u for u in users if u is not None}.values())


class Watched(Protocol):
    """An open socket (realtime.consumers.TaskEventConsumer)."""

    identity: SocketIdentity | None

    async def rechecked(self, user: User | None, keys: set[str]) -> None: ...


class IdentityWatch:
    """Checks the identities of the open sockets of a process every
    WEBSOCKET_RECHECK_SECONDS, all in one go: one thread hop and one cache round trip
    for thousands of sockets, not one of each per socket (docs/realtime.md). Each
    socket is told its fresh user, or None when it must close."""

    def __init__(self) -> None:
        self._sockets: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None
        self._soon: asyncio.Future[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._again = False

    def add(self, socket: Watched) -> None:
        self._sockets.add(socket)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def discard(self, socket: Watched) -> None:
        self._sockets.discard(socket)
        if not self._sockets and self._task is not None:
            self._task.cancel()
            self._task = None

    def check_soon(self) -> None:
        """Check every socket now (an event changed who belongs to which audience),
        once however many such events arrive meanwhile."""
        if not self._sockets:
            return
        if self._soon is not None and not self._soon.done():
            self._again = True  # it may have read the memberships already
            return
        self._soon = asyncio.ensure_future(self._check_soon())

    async def _check_soon(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await self.check_all()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(float(settings.WEBSOCKET_RECHECK_SECONDS))
            await self.check_all()

    async def check_all(self) -> None:
        # One check at a time: a later one reads later memberships, and its result is
        # the one that stays.
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self._check_all()

    async def _check_all(self) -> None:
        checked = [(socket, socket.identity) for socket in self._sockets if socket.identity]
        try:
            users, keys = await database_sync_to_async(recheck_with_keys)([i for _, i in checked])
        except (OperationalError, InterfaceError) as exc:
            # PostgreSQL restarting: a line per check, not a traceback; next time again.
            logger.warning(
                "could not check the identities of %d sockets: database unavailable: %s: %s",
                len(checked),
                type(exc).__name__,
                exc,
            )
            return
        except Exception:
            # The cache and the database both failed: check again next time.
            logger.exception("could not check the identities of %d sockets", len(checked))
            return
        for (socket, _), user in zip(checked, users, strict=True):
            try:
                await socket.rechecked(user, keys.get(user.pk, set()) if user else set())
            except Exception:
                logger.exception("a socket failed to take its checked identity")


_watches = PerLoop(IdentityWatch)


def identity_watch() -> IdentityWatch:
    """The watch of the running event loop."""
    return _watches.get()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _presented_token(scope: Scope) -> str | None:
    """The raw token of the Authorization header or, failing that, of the query
    string; "" when one was presented but is unusable (a wrong scheme, empty)."""
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""
    query = parse_qs(
        bytes(scope.get("query_string", b"")).decode("latin-1"), keep_blank_values=True
    )
    if "token" in query:
        return query["token"][0].strip()
    return None


class SocketAuthMiddleware(BaseMiddleware):
    """Puts `auth` (a SocketIdentity or None), `auth_error`, `auth_unavailable` (the
    database could not be asked) and `user` in the scope.

    Presented credentials that fail are an error (the consumer closes with 4401)
    even when another kind would have worked: a client never silently becomes
    someone else. No credentials at all leave the consumer waiting for an `auth`
    message.
    """

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        scope = dict(
            scope, auth=None, auth_error=None, auth_unavailable=False, user=AnonymousUser()
        )
        raw = _presented_token(scope)
        session_key = parse_cookie(_header(scope, b"cookie") or "").get(
            settings.SESSION_COOKIE_NAME
        )
        try:
            if raw is not None:
                if not raw:
                    raise SocketAuthError(UNUSABLE_CREDENTIALS)
                scope["auth"], scope["user"] = await database_sync_to_async(identify_token)(raw)
            elif session_key:
                scope["auth"], scope["user"] = await database_sync_to_async(identify_session)(
                    session_key
                )
        except SocketScopeError as exc:
            # Not a 401 but a 403: refused here, with its own code and close code.
            refusal = SocketRefusal(exc.code, str(exc), exc.close_code)
            return await refusal(scope, receive, send)
        except SocketAuthError as exc:
            scope["auth_error"] = str(exc)
        except (OperationalError, InterfaceError) as exc:
            # PostgreSQL down or restarting: the consumer accepts and closes with a code
            # to try again, where daphne would answer the handshake with an HTTP 500.
            logger.warning(
                "database unavailable for a socket handshake: %s: %s", type(exc).__name__, exc
            )
            scope["auth_unavailable"] = True
        return await super().__call__(scope, receive, send)


FOREIGN_ORIGIN = (
    "Sockets may not be opened from this page's origin: the server's ALLOWED_HOSTS or"
    " CORS_ALLOWED_ORIGINS must name it."
)
CLOSE_NOT_FOUND = 4404


class BrowserOriginValidator(OriginValidator):
    """Refuses a socket of a browser page from another site, before its credentials
    are read.

    Browsers always send `Origin`, and would send the session cookie along with a
    foreign page's socket (cross-site WebSocket hijacking): it must name this site
    (ALLOWED_HOSTS) or a CORS_ALLOWED_ORIGINS entry. Clients that are not browsers
    send no Origin and are let through; they authenticate with a token. A refused
    socket gets a `permission_denied` error and the close code 4403.
    """

    refusal = SocketRefusal("permission_denied", FOREIGN_ORIGIN, CLOSE_FORBIDDEN)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        # Channels' check, but for the refusal: its denier closes before accepting,
        # an empty HTTP 403.
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = bytes(value).decode("latin-1")
        try:
            # urlparse and the port check raise on an origin no browser sends.
            valid = self.valid_origin(None if origin is None else urlparse(origin))
        except ValueError:
            valid = False
        if valid:
            return await self.application(scope, receive, send)
        return await self.refusal(scope, receive, send)

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or bool(self.validate_origin(parsed_origin))


def browser_origin_validator(application: Any) -> BrowserOriginValidator:
    allowed = [*settings.ALLOWED_HOSTS, *settings.CORS_ALLOWED_ORIGINS]
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed)
