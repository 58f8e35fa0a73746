"""Who is on the other end of a WebSocket, checked at the handshake and again while
the socket stays open.

Four ways in: an `Authorization: Bearer` header, a `token` query parameter, the
Django session cookie (all read here, at the handshake), or a first message
`{"type": "auth", "token": ...}`, which the consumer hands to `identify_token`.
Tokens go through the same checks as HTTP requests (signature, expiry, type, and
the session and user through the revocation cache), so ending a session ends its
sockets too, at the consumer's next `recheck`.
"""

import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie
from rest_framework.exceptions import AuthenticationFailed

from accounts import auth_cache
from accounts.authentication import SessionJWTAuthentication
from accounts.models import User

Scope = dict[str, Any]


class SocketAuthError(Exception):
    """The credentials presented are not (or no longer) valid."""


@dataclass(frozen=True)
class SocketIdentity:
    user_id: int
    via: Literal["token", "cookie"]
    # The JWT session id (`sid` claim) or the Django session key.
    session: str
    # When the access token expires (Unix time); a cookie session has no fixed end.
    expires_at: float | None = None


def identify_token(raw: str) -> tuple[SocketIdentity, User]:
    """An access token, checked exactly as for an HTTP request."""
    authentication = SessionJWTAuthentication()
    try:
        token = authentication.get_validated_token(raw.encode())
        user = authentication.get_user(token)
    except AuthenticationFailed as exc:  # InvalidToken is one too
        raise SocketAuthError("The token is invalid or expired, or its session has ended.") from exc
    identity = SocketIdentity(user.pk, "token", str(token["sid"]), float(token["exp"]))
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
        raise SocketAuthError("The login session has ended.")
    user = auth_cache.session_cookie_user(int(user_id), session_hash)
    if user is None:
        raise SocketAuthError("The login session has ended.")
    return SocketIdentity(user.pk, "cookie", session_key), user


def recheck(identity: SocketIdentity) -> User | None:
    """The identity's user, fresh (role and permissions included), while it is
    still valid; None once the token expired or the session or user is done."""
    if identity.via == "token":
        if identity.expires_at is not None and time.time() >= identity.expires_at:
            return None
        return auth_cache.authenticated_user(identity.user_id, identity.session)
    try:
        _, user = identify_session(identity.session)
    except SocketAuthError:
        return None
    return user if user.pk == identity.user_id else None


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
    """Puts `auth` (a SocketIdentity or None), `auth_error` and `user` in the scope.

    Presented credentials that fail are an error (the consumer closes with 4401)
    even when another kind would have worked: a client never silently becomes
    someone else. No credentials at all leave the consumer waiting for an `auth`
    message.
    """

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        scope = dict(scope, auth=None, auth_error=None, user=AnonymousUser())
        raw = _presented_token(scope)
        session_key = parse_cookie(_header(scope, b"cookie") or "").get(
            settings.SESSION_COOKIE_NAME
        )
        try:
            if raw is not None:
                if not raw:
                    raise SocketAuthError("Use `Authorization: Bearer <access token>`.")
                scope["auth"], scope["user"] = await database_sync_to_async(identify_token)(raw)
            elif session_key:
                scope["auth"], scope["user"] = await database_sync_to_async(identify_session)(
                    session_key
                )
        except SocketAuthError as exc:
            scope["auth_error"] = str(exc)
        return await super().__call__(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuses the handshake of a browser page from another site.

    Browsers always send `Origin`, and would send the session cookie along with a
    foreign page's socket (cross-site WebSocket hijacking): it must name this site
    (ALLOWED_HOSTS) or a CORS_ALLOWED_ORIGINS entry. Clients that are not browsers
    send no Origin and are let through; they authenticate with a token.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or bool(self.validate_origin(parsed_origin))


def browser_origin_validator(application: Any) -> BrowserOriginValidator:
    allowed = [*settings.ALLOWED_HOSTS, *settings.CORS_ALLOWED_ORIGINS]
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed)
