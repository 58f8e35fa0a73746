"""/ws/tasks/ with a personal API token: at the handshake (Bearer header, `?token=`)
or in the first `auth` message, with the scopes of /sync/ (tasks:read and
projects:read); an open socket closes once its token is deleted or expires, or its
user is deactivated or changes their password (docs/personal-tokens.md)."""

import time
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from accounts import auth_cache, personal_tokens
from accounts.authentication import PAT_ENDED, PAT_EXPIRED, PAT_INVALID
from accounts.models import PersonalToken
from accounts.services import user_set_active
from tests.accounts.personal_token_helpers import create_token, token_url
from tests.factories import PASSWORD, TaskFactory
from tests.helpers import ME_URL
from tests.realtime.sockets import (
    TIMEOUT,
    assert_closed_unauthorized,
    connected,
    error_code,
    next_of_type,
    receive,
    send,
    socket,
)
from tests.realtime.test_asyncapi import validator
from tests.realtime.test_socket_auth import CLOSE_TIMEOUT, RecheckSpy, opened

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

in_thread = database_sync_to_async
SOCKET_SCOPES = ["tasks:read", "projects:read"]
FORBIDDEN = 4403


@pytest.fixture
def fast_recheck(settings: Any) -> None:
    settings.WEBSOCKET_RECHECK_SECONDS = 0.2


@pytest.fixture
def recheck_spy(fast_recheck: None, monkeypatch: pytest.MonkeyPatch) -> RecheckSpy:
    import realtime.authentication

    spy = RecheckSpy(realtime.authentication.recheck_many)
    monkeypatch.setattr(realtime.authentication, "recheck_many", spy)
    return spy


async def new_token(client_for: Any, user: Any, scopes: list[str] | None = None, **fields: Any):
    """(the login session's client, the create answer) of a new token of `user`."""
    session = await in_thread(client_for)(user)
    body = await in_thread(create_token)(session, scopes or SOCKET_SCOPES, **fields)
    return session, body


async def assert_refused(communicator: Any, message: str | None = None) -> dict[str, Any]:
    async with opened(communicator):
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        error = await assert_closed_unauthorized(communicator)
    if message is not None:
        assert error["message"] == message
    return error


# --- ways in ------------------------------------------------------------------------------


async def test_a_personal_token_in_the_bearer_header_opens_the_socket(member, client_for):
    _, body = await new_token(client_for, member)

    async with opened(socket(token=body["token"])) as communicator:
        assert await connected(communicator) == {"type": "ready", "user": member.pk}


async def test_a_personal_token_in_the_query_opens_the_socket(member, client_for):
    _, body = await new_token(client_for, member)

    async with opened(socket(query_token=body["token"])) as communicator:
        assert await connected(communicator) == {"type": "ready", "user": member.pk}


async def test_a_personal_token_in_the_auth_message_opens_the_socket(member, client_for):
    _, body = await new_token(client_for, member)

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": body["token"]})

        assert await receive(communicator) == {"type": "ready", "user": member.pk}
        await send(communicator, {"type": "ping"})
        assert await receive(communicator) == {"type": "pong"}


async def test_a_token_socket_receives_its_users_events(member, client_for):
    _, body = await new_token(client_for, member)

    async with opened(socket(token=body["token"])) as communicator:
        await connected(communicator)
        task = await in_thread(TaskFactory)(owner=member, title="Seen by the script")

        message = await next_of_type(communicator, "task.created")
        assert message["task"]["id"] == task.pk


async def test_using_a_token_on_the_socket_marks_it_used(member, client_for):
    _, body = await new_token(client_for, member)

    async with opened(socket(token=body["token"])) as communicator:
        await connected(communicator)

    used = await in_thread(lambda: PersonalToken.objects.get(pk=body["id"]).last_used_at)()
    assert used is not None


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scopes",
    [["tasks:read"], ["projects:read"], ["tasks:write", "projects:write", "files:read"]],
    ids=["no-projects-read", "no-tasks-read", "neither"],
)
async def test_a_token_without_the_socket_scopes_is_refused_with_a_403(member, client_for, scopes):
    _, body = await new_token(client_for, member, scopes)

    for communicator in (socket(token=body["token"]), socket(query_token=body["token"])):
        async with opened(communicator):
            accepted, _ = await communicator.connect(TIMEOUT)
            assert accepted
            error = await receive(communicator)
            assert error_code(error) == "insufficient_scope"
            missing = [scope for scope in SOCKET_SCOPES if scope not in scopes]
            for scope in missing:
                assert scope in error["error"]["message"]
            closing = await communicator.receive_output(TIMEOUT)
            assert closing == {"type": "websocket.close", "code": FORBIDDEN}


@pytest.mark.parametrize(
    "scopes",
    [["tasks:read"], ["projects:read"], ["tasks:write", "projects:write", "files:read"]],
    ids=["no-projects-read", "no-tasks-read", "neither"],
)
async def test_a_token_without_the_socket_scopes_is_refused_in_the_auth_message(
    member, client_for, scopes
):
    # As at the handshake: the HTTP API's 403 (`insufficient_scope`, close 4403), not
    # a 401, naming each scope missing; and no `ready` before it.
    _, body = await new_token(client_for, member, scopes)

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": body["token"]})

        error = await receive(communicator)
        assert error_code(error) == "insufficient_scope"
        missing = [scope for scope in SOCKET_SCOPES if scope not in scopes]
        for scope in missing:
            assert scope in error["error"]["message"]
        closing = await communicator.receive_output(TIMEOUT)
        assert closing == {"type": "websocket.close", "code": FORBIDDEN}
    # As docs/asyncapi.yaml describes it.
    validator("Error").validate(error)


async def test_the_auth_message_gives_the_same_refusal_as_the_handshake(member, client_for):
    _, body = await new_token(client_for, member, ["tasks:read"])

    async with opened(socket(token=body["token"])) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        at_handshake = await receive(communicator)
    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": body["token"]})
        in_the_message = await receive(communicator)

    assert in_the_message == at_handshake


@pytest.mark.parametrize(
    ("raw", "message"),
    [("tm_pat_" + "C" * 43, PAT_INVALID), ("tm_pat_short", PAT_INVALID)],
    ids=["unknown", "malformed"],
)
async def test_a_token_that_is_not_one_in_the_auth_message_is_still_a_401(raw, message):
    # Only a missing scope is a 403: a token that is not valid stays 4401.
    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": raw})

        error = await assert_closed_unauthorized(communicator)
    assert error["message"] == message


async def test_an_expired_token_in_the_auth_message_is_told_so(member, client_for):
    _, body = await new_token(client_for, member)
    await in_thread(
        lambda: PersonalToken.objects.filter(pk=body["id"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    )()

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": body["token"]})

        error = await assert_closed_unauthorized(communicator)
    assert error["message"] == PAT_EXPIRED


@pytest.mark.parametrize(
    "raw", ["tm_pat_" + "C" * 43, "tm_pat_short"], ids=["unknown", "malformed"]
)
async def test_a_token_that_is_not_one_is_refused(raw):
    await assert_refused(socket(token=raw), PAT_INVALID)
    await assert_refused(socket(query_token=raw), PAT_INVALID)


async def test_a_deleted_token_is_refused(member, client_for):
    session, body = await new_token(client_for, member)
    response = await in_thread(session.delete)(token_url(body))
    assert response.status_code == 204, response.content

    await assert_refused(socket(token=body["token"]), PAT_INVALID)


async def test_an_expired_token_is_refused(member, client_for):
    _, body = await new_token(client_for, member)
    await in_thread(
        lambda: PersonalToken.objects.filter(pk=body["id"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    )()

    await assert_refused(socket(token=body["token"]), PAT_EXPIRED)


async def test_a_token_of_a_deactivated_user_is_refused(member, client_for):
    _, body = await new_token(client_for, member)
    await in_thread(user_set_active)(user=member, is_active=False)

    await assert_refused(socket(token=body["token"]))


# --- an open socket closes when its token ends ---------------------------------------------


async def test_deleting_the_token_closes_its_socket(member, client_for, fast_recheck):
    session, body = await new_token(client_for, member)
    async with opened(socket(token=body["token"])) as communicator:
        await connected(communicator)

        response = await in_thread(session.delete)(token_url(body))
        assert response.status_code == 204, response.content

        error = await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)
        # A personal token's wording, not a login session's.
        assert error["message"] == PAT_ENDED


async def test_deleting_one_token_leaves_the_socket_of_another_open(
    member, client_for, recheck_spy
):
    session, kept = await new_token(client_for, member)
    ended = await in_thread(create_token)(session, SOCKET_SCOPES)
    async with (
        opened(socket(token=kept["token"])) as stays,
        opened(socket(token=ended["token"])) as closes,
    ):
        await connected(stays)
        await connected(closes)

        response = await in_thread(session.delete)(token_url(ended))
        assert response.status_code == 204, response.content

        await assert_closed_unauthorized(closes, CLOSE_TIMEOUT)
        await recheck_spy.wait_for_checks(member)
        await send(stays, {"type": "ping"})
        assert await receive(stays) == {"type": "pong"}


async def test_deactivating_the_user_closes_their_token_sockets(member, client_for, fast_recheck):
    _, body = await new_token(client_for, member)
    async with opened(socket(query_token=body["token"])) as communicator:
        await connected(communicator)

        await in_thread(user_set_active)(user=member, is_active=False)

        error = await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)
        assert error["message"] == PAT_ENDED


async def test_changing_the_password_closes_the_token_sockets(member, client_for, fast_recheck):
    session, body = await new_token(client_for, member)
    async with opened(socket(token=body["token"])) as communicator:
        await connected(communicator)

        response = await in_thread(session.patch)(
            ME_URL,
            {"current_password": PASSWORD, "password": "Another-Copper-Lantern-43"},
            format="json",
        )
        assert response.status_code == 200, response.content

        error = await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)
        assert error["message"] == PAT_ENDED


async def test_the_socket_closes_when_its_token_expires(member, client_for, settings):
    # The periodic check is far off; the token's own expiry ends the socket.
    settings.WEBSOCKET_RECHECK_SECONDS = 60
    expires_at = timezone.now() + timedelta(seconds=2)
    _, body = await new_token(client_for, member, expires_at=expires_at.isoformat())
    async with opened(socket(token=body["token"])) as communicator:
        await connected(communicator)

        error = await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)

        assert time.time() >= expires_at.timestamp()
        assert error["message"] == PAT_EXPIRED


async def test_the_periodic_check_refuses_an_expired_token(member, client_for, recheck_spy):
    # Were the expiry moved earlier under an open socket (the row changed by hand), the
    # next check closes it.
    _, body = await new_token(client_for, member)
    async with opened(socket(token=body["token"])) as communicator:
        await connected(communicator)

        await in_thread(
            lambda: PersonalToken.objects.filter(pk=body["id"]).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            )
        )()
        await in_thread(cache.delete)(
            auth_cache.personal_token_key(personal_tokens.hash_of(body["token"]))
        )

        error = await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)
        # Not expired for the socket (its own expiry is later): ended, in a token's words.
        assert error["message"] == PAT_ENDED
