import logging
import time
from uuid import UUID

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed as DRFAuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import (
    AuthenticationFailed,
    ExpiredTokenError,
    InvalidToken,
    TokenError,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token

from accounts import auth_cache, personal_tokens, scopes
from accounts.models import User
from accounts.personal_tokens import PersonalTokenAuth
from accounts.tokens import WrongTokenTypeError
from taskmanager import readahead

logger = logging.getLogger(__name__)

# Access tokens SimpleJWT has verified in this process, by their exact bytes (the
# signature included, so no other token matches). Verifying one costs about 70 µs,
# most of a warm request's authentication; a hit is a dict lookup and an expiry
# check. Revocation is not cached: `get_user` asks the shared cache every time.
# Bounded by starting again when full; a dict's get, set and clear are each atomic,
# so the threads of the WebSocket server may share it.
VERIFIED_TOKENS_MAX = 1024
_verified: dict[bytes, Token] = {}

# What a refused access token is told, over HTTP and on a socket alike: what is
# wrong, then what to do (SimpleJWT's "Given token not valid for any token type" said
# neither). Every one is a 401 `authentication_failed`.
INVALID_ACCESS = "The access token is not valid: log in again (/api/v1/auth/login/) for a new one."
EXPIRED_ACCESS = (
    "The access token has expired: get a new one from /api/v1/auth/refresh/ with the"
    " refresh token, or log in again."
)
REFRESH_AS_ACCESS = (
    "This is a refresh token, not an access token: send it to /api/v1/auth/refresh/"
    " and use the access token it returns."
)
SESSION_ENDED = (
    "The session has ended (a logout, a password change or a deactivation): log in again."
)
BAD_AUTHORIZATION_HEADER = 'The Authorization header must be "Bearer <access token>".'
# What a refused personal API token is told (401 `authentication_failed` too).
PAT_INVALID = (
    "The personal API token is not valid (mistyped, or deleted): check it, or create a"
    " new one at /api/v1/auth/tokens/."
)
PAT_EXPIRED = "The personal API token has expired: create a new one at /api/v1/auth/tokens/."
PAT_ENDED = (
    "The personal API token has ended (its user's password changed, or the user was"
    " deactivated): create a new one at /api/v1/auth/tokens/."
)


def refusal_message(exc: DRFAuthenticationFailed) -> str:
    """The message of a refused credential; SimpleJWT's errors wrap it in a dict."""
    detail = exc.detail
    if isinstance(detail, dict):
        return str(detail["detail"]) if "detail" in detail else INVALID_ACCESS
    return str(detail)


def token_refused(error: TokenError) -> InvalidToken:
    """The 401 for an access token SimpleJWT refused, saying why."""
    if isinstance(error, ExpiredTokenError):
        return InvalidToken(EXPIRED_ACCESS)
    if isinstance(error, WrongTokenTypeError) and error.token_type == RefreshToken.token_type:
        return InvalidToken(REFRESH_AS_ACCESS)
    return InvalidToken(INVALID_ACCESS)


class SessionJWTAuthentication(JWTAuthentication):
    """Bearer access tokens, accepted only while their session and user are live.

    SimpleJWT checks signature, algorithm, expiry and type (a refresh token is not
    an access token); this adds the revocation check through the cache.
    """

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _verified.get(raw_token)
        # Expired as PyJWT decides with no leeway: once the clock reaches "exp" it
        # goes back to SimpleJWT, which applies any LEEWAY and gives the error.
        if token is not None and int(time.time()) < token["exp"]:
            return token
        token = _validate(raw_token)
        if len(_verified) >= VERIFIED_TOKENS_MAX:
            _verified.clear()
        _verified[raw_token] = token
        return token

    def get_raw_token(self, header: bytes) -> bytes | None:
        parts = header.split()
        if len(parts) > 0 and parts[0] == b"Bearer" and len(parts) != 2:
            raise AuthenticationFailed(BAD_AUTHORIZATION_HEADER, code="bad_authorization_header")
        return super().get_raw_token(header)

    # SimpleJWT's user is a type variable found only in its return types, which no
    # override can narrow to the user model (here, and in get_user).
    def authenticate(self, request: Request) -> tuple[User, Token] | None:  # type: ignore[override]
        # SimpleJWT's, with the request passed on to `get_user`.
        header = self.get_header(request)
        raw_token = self.get_raw_token(header) if header is not None else None
        if raw_token is None or raw_token.startswith(personal_tokens.PREFIX_BYTES):
            # A personal token is PersonalTokenAuthentication's alone.
            return None
        validated_token = self.get_validated_token(raw_token)
        return self.get_user(validated_token, request), validated_token

    def get_user(self, validated_token: Token, request: Request | None = None) -> User:  # type: ignore[override]
        """The token's user while its session is live. Given the request, the one
        round trip that reads the session also carries what the view and its
        throttles read first (taskmanager.readahead)."""
        user_id = validated_token.get("user_id")
        try:
            session_id = str(UUID(str(validated_token.get("sid"))))
        except ValueError:
            session_id = None
        if not isinstance(user_id, int) or session_id is None:
            raise InvalidToken(INVALID_ACCESS)
        keys = auth_cache.entry_keys(user_id, session_id)
        read = readahead.start(request, user_id, keys) if request is not None else None
        user = auth_cache.authenticated_user(user_id, session_id, read)
        if user is None:
            if request is not None:
                readahead.uncount(request)
            raise AuthenticationFailed(SESSION_ENDED, code="session_ended")
        return user


def _validate(raw_token: bytes) -> Token:
    """SimpleJWT's check of each AUTH_TOKEN_CLASSES (signature, algorithm, expiry,
    type, claims), refused with the reason of the last one."""
    failure: TokenError | None = None
    for token_class in api_settings.AUTH_TOKEN_CLASSES:
        try:
            return token_class(raw_token)
        except TokenError as exc:
            failure = exc
    raise token_refused(failure or TokenError(INVALID_ACCESS))


def session_id_of(request: Request) -> str | None:
    """The session id of the Bearer token a request was authenticated with, if any."""
    token = request.auth
    return token.get("sid") if isinstance(token, Token) else None


class PersonalTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer tm_pat_...`: a personal API token (docs/personal-tokens.md),
    accepted while it exists, has not expired, and its user is active and has not
    changed their password since it was made; then only within its scopes
    (accounts.scopes), checked here so that no view's permission classes skip it.

    Any other header is left to the other authenticators (a JWT is never taken for
    one, nor one for a JWT)."""

    def authenticate(self, request: Request) -> tuple[User, PersonalTokenAuth] | None:
        raw = personal_token_in(get_authorization_header(request))
        if raw is None:
            return None
        user, auth = authenticate_personal_token(raw, request)
        view = (request.parser_context or {}).get("view")
        try:
            scopes.check(auth.scopes, scopes.needed_scopes(view, request.method or "GET"))
        except scopes.InsufficientScope:
            # DRF leaves a request refused here anonymous, in the access log too.
            logger.info(
                "personal token outside its scopes",
                extra={"user_id": user.pk, "token_id": auth.id, "path": request.path},
            )
            raise
        return user, auth

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def personal_token_in(header: bytes) -> str | None:
    """The personal token of an Authorization header (the scheme in any case, as RFC
    7235 has it), or None when it holds none."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    if not parts[1].startswith(personal_tokens.PREFIX_BYTES):
        return None
    # Only ASCII can be well formed; anything else is refused as not valid.
    return parts[1].decode("latin-1")


def authenticate_personal_token(
    raw: str, request: Request | None = None
) -> tuple[User, PersonalTokenAuth]:
    """The user of a live personal token and what the token grants, or
    AuthenticationFailed saying why not. Given the request, the read of the user's
    entry carries the view's and its throttles' first reads (taskmanager.readahead)."""
    if not personal_tokens.is_well_formed(raw):
        raise AuthenticationFailed(PAT_INVALID, code="token_not_valid")
    state = auth_cache.personal_token_state(personal_tokens.hash_of(raw))
    if state is None:
        raise AuthenticationFailed(PAT_INVALID, code="token_not_valid")
    expires_at = state["expires_at"]
    if expires_at is not None and expires_at <= timezone.now():
        raise AuthenticationFailed(PAT_EXPIRED, code="token_expired")
    user_id = state["user_id"]
    keys = [auth_cache.user_key(user_id)]
    read = readahead.start(request, user_id, keys) if request is not None else None
    user = auth_cache.active_user(user_id, read)
    if user is None or auth_cache.personal_token_outlived(state, user):
        if request is not None:
            readahead.uncount(request)
        raise AuthenticationFailed(PAT_ENDED, code="token_ended")
    auth_cache.personal_token_used(state)
    return user, PersonalTokenAuth(
        id=state["id"],
        user_id=user_id,
        key_hash=state["key_hash"],
        scopes=frozenset(state["scopes"]),
        created_at=state["created_at"],
        expires_at=expires_at,
    )
