"""Refresh and access tokens bound to a session (the `sid` claim)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch


@dataclass(frozen=True)
class IssuedTokens:
    access: str
    refresh: str
    refresh_jti: str
    refresh_expires_at: datetime

    @property
    def expires_in(self) -> int:
        return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())

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
        payload = token_backend.decode(raw, verify=True)
    except TokenBackendError as exc:
        raise TokenError(str(exc)) from exc
    if payload.get("token_type") != "refresh" or "jti" not in payload or "exp" not in payload:
        raise TokenError("Token has wrong type")
    return payload
