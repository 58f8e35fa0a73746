"""Refresh and access tokens bound to a session (the `sid` claim)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from django.conf import settings
from rest_framework_simplejwt.exceptions import (
    ExpiredTokenError,
    TokenBackendError,
    TokenBackendExpiredToken,
    TokenError,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

# NumericDate claims as this service writes them: whole seconds before the year 10000,
# where Python's datetime ends (SimpleJWT turns `exp` into one).
_LATEST_EPOCH = 253402300799
_BIGINT_MAX = 2**63 - 1


def check_claims(payload: Mapping[str, Any]) -> None:
    """TokenError unless the claims this service reads have the types and ranges it
    issues. A well-signed token is not therefore well-formed (an older release, a key
    shared with another service): a string or a huge `exp` made SimpleJWT fail with
    a TypeError or an OverflowError, a 500, where it must be a 401."""
    for name in ("exp", "iat", "nbf"):
        if name in payload and not _is_whole(payload[name], 0, _LATEST_EPOCH):
            raise TokenError(f'Token has an invalid "{name}" claim')
    user_id = api_settings.USER_ID_CLAIM
    if user_id in payload and not _is_whole(payload[user_id], 1, _BIGINT_MAX):
        raise TokenError(f'Token has an invalid "{user_id}" claim')
    for name in (api_settings.JTI_CLAIM, api_settings.TOKEN_TYPE_CLAIM, "sid"):
        if name in payload and not isinstance(payload[name], str):
            raise TokenError(f'Token has an invalid "{name}" claim')


def _is_whole(value: Any, low: int, high: int) -> bool:
    # Not a bool, though Python's bool is an int: JSON `true` is no number.
    return type(value) is int and low <= value <= high


class WrongTokenTypeError(TokenError):
    """A well-signed token of another type (a refresh token sent as an access token)."""

    def __init__(self, message: str, token_type: Any) -> None:
        super().__init__(message)
        self.token_type = token_type


class SessionAccessToken(AccessToken):
    """SimpleJWT's access token, its claims checked before SimpleJWT reads them
    (settings: SIMPLE_JWT["AUTH_TOKEN_CLASSES"]). Its errors say which check failed
    (expired, another type), so the client can be told what to do."""

    def verify(self) -> None:
        check_claims(self.payload)
        super().verify()

    def check_exp(self, claim: str = "exp", current_time: datetime | None = None) -> None:
        try:
            super().check_exp(claim, current_time)
        except TokenError as exc:
            if claim in self.payload:  # present, and passed
                raise ExpiredTokenError(str(exc)) from exc
            raise

    def verify_token_type(self) -> None:
        token_type = self.payload.get(api_settings.TOKEN_TYPE_CLAIM)
        if token_type != self.token_type:
            raise WrongTokenTypeError("Token has wrong type", token_type)


@dataclass(frozen=True)
class IssuedTokens:
    access: str
    refresh: str
    refresh_jti: str
    refresh_expires_at: datetime

    @property
    def expires_in(self) -> int:
        lifetime = cast(timedelta, settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"])
        return int(lifetime.total_seconds())

    def as_response(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "refresh": self.refresh,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


def issue(*, user_id: int, session_id: UUID) -> IssuedTokens:
    # A bare RefreshToken(): RefreshToken.for_user would record an outstanding
    # token before the `sid` claim is set; the service records it itself.
    refresh = RefreshToken()
    refresh["user_id"] = user_id
    refresh["sid"] = str(session_id)
    return IssuedTokens(
        access=str(refresh.access_token),
        refresh=str(refresh),
        refresh_jti=str(refresh["jti"]),
        refresh_expires_at=datetime_from_epoch(refresh["exp"]),
    )


def decode_refresh(raw: str) -> dict[str, Any]:
    """Signature, algorithm, expiry and type of a refresh token; TokenError if any fails.

    The blacklist is not consulted here: the refresh service decides, under a row
    lock, whether an already-rotated token is a replay.
    """
    try:
        # SimpleJWT annotates the argument as a Token; it decodes the encoded string.
        payload = token_backend.decode(raw, verify=True)  # type: ignore[arg-type]
    except TokenBackendExpiredToken as exc:
        raise ExpiredTokenError(str(exc)) from exc
    except TokenBackendError as exc:
        raise TokenError(str(exc)) from exc
    if payload.get("token_type") != "refresh":
        raise WrongTokenTypeError("Token has wrong type", payload.get("token_type"))
    if "jti" not in payload or "exp" not in payload:
        raise TokenError("Token has no id or no expiry")
    check_claims(payload)
    return payload
