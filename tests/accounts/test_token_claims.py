"""Tokens signed with the real key whose claims are not what this service issues: a
string or a huge `exp` made SimpleJWT fail (TypeError, OverflowError), a 500 on HTTP
and a broken handshake on the socket. Each is a 401 in the error shape, and a
socket refusal (close 4401) on every way a socket presents a token."""

import time
from typing import Any

import jwt
import pytest
from channels.db import database_sync_to_async

from tests.helpers import ME_URL, REFRESH_URL, assert_error, bearer_client, claims
from tests.realtime.sockets import TIMEOUT, assert_closed_unauthorized, send, socket

NOW = int(time.time())
LATER = NOW + 3600

# (claim, value): each must make a well-signed token invalid.
BAD_CLAIMS = [
    ("exp", str(LATER)),  # PyJWT accepts a numeric string; SimpleJWT did not
    ("exp", "soon"),
    ("exp", 10**20),
    ("exp", -(10**20)),
    ("exp", 1e300),
    ("exp", float(LATER)),
    ("exp", True),
    ("exp", None),
    ("exp", [LATER]),
    ("exp", {"at": LATER}),
    ("iat", str(NOW)),
    ("iat", 10**20),
    ("iat", -(10**20)),
    ("iat", [1]),
    ("nbf", str(NOW)),
    ("nbf", 10**20),
    ("nbf", -(10**20)),
    ("nbf", {"at": 1}),
    ("user_id", "1"),
    ("user_id", True),
    ("user_id", 10**20),
    ("user_id", -1),
    ("user_id", 1.0),
    ("sid", 12345),
    ("sid", ["a"]),
    ("sid", {"id": "x"}),
    ("sid", None),
    ("jti", 12345),
    ("jti", None),
    ("token_type", ["access"]),
]


def case_id(claim: str, value: Any) -> str:
    """The same on every xdist worker: the clock's values by name, not by number."""
    shown = repr(value).replace(str(LATER), "later").replace(str(NOW), "now")
    return f"{claim}={shown}"[:40]


IDS = [case_id(claim, value) for claim, value in BAD_CLAIMS]


def sign(payload: dict[str, Any], settings: Any) -> str:
    return jwt.encode(
        payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=settings.SIMPLE_JWT["ALGORITHM"]
    )


def with_claim(token: str, claim: str, value: Any, settings: Any) -> str:
    """The same session's token with one claim replaced, signed with the real key."""
    return sign({**claims(token), claim: value}, settings)


@pytest.mark.django_db
@pytest.mark.parametrize(("claim", "value"), BAD_CLAIMS, ids=IDS)
def test_an_access_token_with_a_malformed_claim_is_401(claim, value, member, login, settings):
    tokens = login(member)
    assert bearer_client(tokens["access"]).get(ME_URL).status_code == 200

    response = bearer_client(with_claim(tokens["access"], claim, value, settings)).get(ME_URL)

    assert_error(response, 401, "authentication_failed")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize(("claim", "value"), BAD_CLAIMS, ids=IDS)
def test_a_refresh_token_with_a_malformed_claim_is_401(
    claim, value, api_client, member, login, settings
):
    refresh = with_claim(login(member)["refresh"], claim, value, settings)

    response = api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")

    assert_error(response, 401, "authentication_failed")


@pytest.mark.django_db
def test_the_largest_well_formed_expiry_is_still_accepted(member, login, settings):
    # The bound is the year 9999, not something a genuine token could reach.
    access = with_claim(login(member)["access"], "exp", 253402300799, settings)

    assert bearer_client(access).get(ME_URL).status_code == 200


# The socket: the Authorization header, `?token=` and a first `auth` message.

SOCKET_CLAIMS = [
    ("exp", str(LATER)),
    ("exp", 10**20),
    ("iat", 10**20),
    ("nbf", str(NOW)),
    ("user_id", True),
    ("sid", 12345),
]
SOCKET_IDS = [case_id(claim, value) for claim, value in SOCKET_CLAIMS]


async def refused(communicator: Any, first_message: dict[str, Any] | None = None) -> None:
    try:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        if first_message is not None:
            await send(communicator, first_message)
        await assert_closed_unauthorized(communicator)
    finally:
        if not communicator.future.done():
            await communicator.disconnect(timeout=0.5)
        elif not communicator.future.cancelled():
            communicator.future.result()  # the application's own exception, if any


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(("claim", "value"), SOCKET_CLAIMS, ids=SOCKET_IDS)
@pytest.mark.parametrize("way", ["header", "query", "auth-message"])
async def test_a_socket_token_with_a_malformed_claim_is_refused_with_4401(
    way, claim, value, member, login, settings
):
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 30
    tokens = await database_sync_to_async(login)(member)
    token = with_claim(tokens["access"], claim, value, settings)

    if way == "header":
        await refused(socket(token=token))
    elif way == "query":
        await refused(socket(query_token=token))
    else:
        await refused(socket(), {"type": "auth", "token": token})
