from uuid import UUID

from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.tokens import Token

from accounts import auth_cache
from accounts.models import User


class SessionJWTAuthentication(JWTAuthentication):
    """Bearer access tokens, accepted only while their session and user are live.

    SimpleJWT checks signature, algorithm, expiry and type (a refresh token is not
    an access token); this adds the revocation check through the cache.
    """

    def get_user(self, validated_token: Token) -> User:
        user_id = validated_token.get("user_id")
        try:
            session_id = UUID(str(validated_token.get("sid")))
        except ValueError:
            session_id = None
        if not isinstance(user_id, int) or session_id is None:
            raise InvalidToken("Token is not bound to a session.")
        user = auth_cache.authenticated_user(user_id, str(session_id))
        if user is None:
            raise AuthenticationFailed("The session has ended.", code="session_ended")
        return user


def session_id_of(request: Request) -> str | None:
    """The session id of the Bearer token a request was authenticated with, if any."""
    token = request.auth
    return token.get("sid") if isinstance(token, Token) else None
