import time
from uuid import UUID

from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.tokens import Token

from accounts import auth_cache
from accounts.models import User
from taskmanager import readahead
from taskmanager.throttles import ReadWriteThrottle

# Access tokens SimpleJWT has verified in this process, by their exact bytes (the
# signature included, so no other token matches). Verifying one costs about 70 µs,
# most of a warm request's authentication; a hit is a dict lookup and an expiry
# check. Revocation is not cached: `get_user` asks the shared cache every time.
# Bounded by starting again when full; a dict's get, set and clear are each atomic,
# so the threads of the WebSocket server may share it.
VERIFIED_TOKENS_MAX = 1024
_verified: dict[bytes, Token] = {}


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
        token = super().get_validated_token(raw_token)
        if len(_verified) >= VERIFIED_TOKENS_MAX:
            _verified.clear()
        _verified[raw_token] = token
        return token

    def authenticate(self, request: Request) -> tuple[User, Token] | None:
        # SimpleJWT's, with the request passed on to `get_user`.
        header = self.get_header(request)
        raw_token = self.get_raw_token(header) if header is not None else None
        if raw_token is None:
            return None
        validated_token = self.get_validated_token(raw_token)
        return self.get_user(validated_token, request), validated_token

    def get_user(self, validated_token: Token, request: Request | None = None) -> User:
        """The token's user while its session is live. Given the request, the one
        round trip that reads the session also carries what the view will read
        first (taskmanager.readahead)."""
        user_id = validated_token.get("user_id")
        try:
            session_id = str(UUID(str(validated_token.get("sid"))))
        except ValueError:
            session_id = None
        if not isinstance(user_id, int) or session_id is None:
            raise InvalidToken("Token is not bound to a session.")
        ahead = None
        if request is not None:
            ahead = request.read_ahead = readahead.fetch(_plan(request, user_id, session_id))
        user = auth_cache.authenticated_user(user_id, session_id, ahead)
        if user is None:
            if ahead is not None:
                readahead.uncount(ahead)
            raise AuthenticationFailed("The session has ended.", code="session_ended")
        return user


def _plan(request: Request, user_id: int, session_id: str) -> readahead.Plan:
    """The session and user entries, the throttle's counter, and the cache keys the
    view says it reads first (its `read_ahead_keys(request, user_id)`)."""
    plan = readahead.Plan(keys=auth_cache.entry_keys(user_id, session_id))
    view = (request.parser_context or {}).get("view")
    if view is None:
        return plan
    if any(issubclass(throttle, ReadWriteThrottle) for throttle in view.throttle_classes):
        counter = ReadWriteThrottle.counter_for(request, user_id)
        if counter is not None:
            plan.counters.append(counter)
    read_ahead_keys = getattr(view, "read_ahead_keys", None)
    if read_ahead_keys is not None:
        plan.keys += read_ahead_keys(request, user_id)
    return plan


def session_id_of(request: Request) -> str | None:
    """The session id of the Bearer token a request was authenticated with, if any."""
    token = request.auth
    return token.get("sid") if isinstance(token, Token) else None
