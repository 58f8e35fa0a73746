"""Who may open /ws/tasks/, and for how long: authentication through the project's
whole ASGI application (origin check, SocketAuthMiddleware, routing, consumer).

Four ways in (Bearer header, `?token=`, the Django session cookie, a first `auth`
message); every refusal is the HTTP API's 401 error (`not_authenticated` or
`authentication_failed`, with the same message as over HTTP) then close 4401; an open
socket is closed the same way once its session, user or token is done, and follows
its user's role into and out of the "all tasks" group. A page from a foreign origin
gets `permission_denied` and 4403, before any credential is read.
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.authentication import (
    EXPIRED_ACCESS,
    INVALID_ACCESS,
    REFRESH_AS_ACCESS,
    SESSION_ENDED,
)
from accounts.models import User
from accounts.roles import Role
from accounts.services import user_set_active, user_set_role
from realtime.authentication import (
    FOREIGN_ORIGIN,
    LOGIN_SESSION_ENDED,
    UNUSABLE_CREDENTIALS,
    browser_origin_validator,
)
from realtime.consumers import FIRST_MESSAGE
from tests.factories import PASSWORD, TaskFactory
from tests.helpers import REFRESH_URL, claims
from tests.realtime import sockets
from tests.realtime.sockets import (
    TIMEOUT,
    assert_closed_unauthorized,
    assert_silent,
    connected,
    next_of_type,
    receive,
    send,
    socket,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LOGOUT_URL = "/api/v1/auth/logout/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"
ME_URL = "/api/v1/users/me/"
SESSION_LOGIN_URL = "/login/"
# Generous for a loaded xdist worker; the wait ends as soon as the message arrives.
CLOSE_TIMEOUT = 2 * TIMEOUT
# How long a disconnect waits for the application to end before cancelling it. With
# redis-py 8 a cancelled channels-redis receive could hang 5 s (requirements.txt pins
# 7.4; tests/realtime/test_channel_layer.py guards it); a short wait keeps such a
# regression from slowing this module, and nothing is asserted about it.
DISCONNECT_TIMEOUT = 0.5

in_thread = database_sync_to_async


# Helpers.


@asynccontextmanager
async def opened(communicator: WebsocketCommunicator) -> AsyncIterator[WebsocketCommunicator]:
    """The communicator, always disconnected at the end so no consumer task leaks."""
    try:
        yield communicator
    finally:
        if not communicator.future.done():
            await communicator.disconnect(timeout=DISCONNECT_TIMEOUT)
        elif not communicator.future.cancelled():  # cancelled: a receive timed out
            communicator.future.result()  # the application's own exception, if any


async def assert_refused(
    communicator: WebsocketCommunicator, code: str = "authentication_failed"
) -> dict[str, Any]:
    """Accepted, then an error with `code` and close 4401, without a `ready`. The error."""
    async with opened(communicator):
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        return await assert_closed_unauthorized(communicator, code=code)


async def assert_ready_as(communicator: WebsocketCommunicator, user: User) -> None:
    async with opened(communicator):
        ready = await connected(communicator)
        assert ready == {"type": "ready", "user": user.pk}


def sign(payload: dict[str, Any], settings: Any) -> str:
    return jwt.encode(
        payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=settings.SIMPLE_JWT["ALGORITHM"]
    )


def access_expiring_at(access: str, exp: int, settings: Any) -> str:
    """The same session's access token, with another expiry."""
    return sign({**claims(access), "exp": exp}, settings)


def session_cookie(user: User) -> tuple[Client, str]:
    """A Django login session of `user` (as the browsable API makes): its client and key."""
    client = Client()
    client.force_login(user)
    return client, client.cookies["sessionid"].value


def session_cookie_by_login_form(user: User) -> tuple[Client, str]:
    """The same, through a real POST to the browsable API's login form."""
    client = Client()
    response = client.post(SESSION_LOGIN_URL, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client, client.cookies["sessionid"].value


def post(client: Any, url: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data or {}, format="json")


class RecheckSpy:
    """Wraps the periodic check of the open sockets' identities (IdentityWatch) to
    tell when it has run for a user: a role change is followed at the next check,
    and nothing is sent to the client then."""

    def __init__(self, recheck_many: Callable[..., Any]) -> None:
        self._recheck_many = recheck_many
        self.started: Counter[int] = Counter()

    def __call__(self, identities: Any) -> Any:
        for identity in identities:
            self.started[identity.user_id] += 1
        return self._recheck_many(identities)

    async def wait_for_checks(
        self, user: User, count: int = 2, timeout: float = CLOSE_TIMEOUT
    ) -> None:
        """Until `count` more checks of `user`'s sockets started. With one socket, the
        first of them reads the state committed before this call, and the groups it
        changes are joined or left before the next one starts."""
        target = self.started[user.pk] + count
        deadline = time.monotonic() + timeout
        while self.started[user.pk] < target:
            assert time.monotonic() < deadline, "the socket stopped re-checking its identity"
            await asyncio.sleep(0.02)


@pytest.fixture
def fast_recheck(settings: Any) -> None:
    settings.WEBSOCKET_RECHECK_SECONDS = 0.2


@pytest.fixture
def recheck_spy(fast_recheck: None, monkeypatch: pytest.MonkeyPatch) -> RecheckSpy:
    import realtime.authentication

    spy = RecheckSpy(realtime.authentication.recheck_many)
    monkeypatch.setattr(realtime.authentication, "recheck_many", spy)
    return spy


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Any:
    """caplog receives every record of every logger, DEBUG included."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
            monkeypatch.setattr(logger, "propagate", True)
            monkeypatch.setattr(logger, "disabled", False)
    return caplog


# 1. The four ways in.


async def test_a_bearer_header_authenticates_the_socket(member, login):
    tokens = await in_thread(login)(member)

    await assert_ready_as(socket(token=tokens["access"]), member)


async def test_a_token_query_parameter_authenticates_the_socket(member, login):
    tokens = await in_thread(login)(member)

    await assert_ready_as(socket(query_token=tokens["access"]), member)


@pytest.mark.parametrize(
    "log_in", [session_cookie, session_cookie_by_login_form], ids=["force_login", "login_form"]
)
async def test_the_django_session_cookie_authenticates_the_socket(member, log_in):
    _, key = await in_thread(log_in)(member)

    await assert_ready_as(socket(cookie=key), member)


async def test_a_first_auth_message_authenticates_the_socket(member, login):
    tokens = await in_thread(login)(member)

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": tokens["access"]})

        assert await receive(communicator) == {"type": "ready", "user": member.pk}
        await send(communicator, {"type": "ping"})
        assert await receive(communicator) == {"type": "pong"}


async def test_an_auth_message_sent_a_while_later_within_the_timeout_is_accepted(
    member, login, settings
):
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 2.0
    tokens = await in_thread(login)(member)

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        assert await communicator.receive_nothing(timeout=0.5)
        await send(communicator, {"type": "auth", "token": tokens["access"]})

        assert await receive(communicator) == {"type": "ready", "user": member.pk}


async def test_the_bearer_header_wins_over_the_query_parameter_and_the_cookie(
    member, other_member, manager, login
):
    header = (await in_thread(login)(member))["access"]
    query = (await in_thread(login)(other_member))["access"]
    _, cookie = await in_thread(session_cookie)(manager)

    await assert_ready_as(socket(token=header, query_token=query, cookie=cookie), member)


async def test_the_query_parameter_wins_over_the_cookie(member, other_member, login):
    query = (await in_thread(login)(member))["access"]
    _, cookie = await in_thread(session_cookie)(other_member)

    await assert_ready_as(socket(query_token=query, cookie=cookie), member)


# 2. Refusals: the HTTP API's 401 error (`not_authenticated` without credentials,
# `authentication_failed` with refused ones), then close 4401.


async def test_silence_past_the_auth_timeout_is_refused(settings):
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 0.3

    error = await assert_refused(socket(), "not_authenticated")

    assert error["message"] == (
        "No credentials within 0.3 seconds: reconnect and authenticate first."
    )


async def test_an_auth_message_still_being_checked_at_the_timeout_gets_one_answer(
    member, login, settings, monkeypatch
):
    # The auth message arrives in time, but checking its token outlasts the timeout
    # (a slow database or cache). Either answer is defensible: `ready`, or the
    # refusal; not the refusal and close 4401 followed by `ready` on a closed socket.
    import realtime.consumers

    identify_token = realtime.consumers.identify_token

    def slow_identify_token(raw: str) -> Any:
        time.sleep(0.6)
        return identify_token(raw)

    monkeypatch.setattr(realtime.consumers, "identify_token", slow_identify_token)
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 0.3
    tokens = await in_thread(login)(member)

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": tokens["access"]})

        first = await receive(communicator)
        if first["type"] == "ready":
            assert first == {"type": "ready", "user": member.pk}
        else:
            assert sockets.error_code(first) == "not_authenticated", first
            closing = await communicator.receive_output(TIMEOUT)
            assert closing == {"type": "websocket.close", "code": sockets.UNAUTHORIZED}
        # Past the end of the slow check: nothing else.
        await asyncio.sleep(1.0)
        if not await communicator.receive_nothing(timeout=0.05):
            pytest.fail(f"after {first} (and its close): {await communicator.receive_output()}")


async def test_a_first_message_that_is_not_auth_is_refused(settings):
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 30

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "ping"})

        error = await assert_closed_unauthorized(communicator, code="not_authenticated")

    assert error["message"] == FIRST_MESSAGE


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "auth", "token": "not-a-token"}, "authentication_failed"),
        ({"type": "auth", "token": ""}, "authentication_failed"),
        ({"type": "auth"}, "not_authenticated"),
        ({"type": "auth", "token": 42}, "not_authenticated"),
        ({"type": "auth", "token": "\ud800"}, "not_authenticated"),  # not JSON text
        ({"type": "auth", "token": "é.é.é"}, "authentication_failed"),
    ],
    ids=["garbage", "empty", "missing", "not-a-string", "lone-surrogate", "not-ascii"],
)
async def test_a_first_auth_message_with_a_bad_token_is_refused(message, code, settings):
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 30

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, message)

        await assert_closed_unauthorized(communicator, code=code)


async def test_a_first_auth_message_with_a_refresh_token_is_refused(member, login, settings):
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 30
    tokens = await in_thread(login)(member)

    async with opened(socket()) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        await send(communicator, {"type": "auth", "token": tokens["refresh"]})

        await assert_closed_unauthorized(communicator)


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", "x" * 2000])
async def test_a_garbage_bearer_token_is_refused(token):
    error = await assert_refused(socket(token=token))

    assert error["message"] == INVALID_ACCESS


async def test_an_expired_access_token_is_refused_saying_to_refresh(member, login, settings):
    access = (await in_thread(login)(member))["access"]
    expired = access_expiring_at(access, int(time.time()) - 30, settings)

    assert (await assert_refused(socket(token=expired)))["message"] == EXPIRED_ACCESS
    assert (await assert_refused(socket(query_token=expired)))["message"] == EXPIRED_ACCESS


async def test_a_token_signed_with_another_key_is_refused(member, login):
    payload = claims((await in_thread(login)(member))["access"])
    forged = jwt.encode(payload, "not-the-signing-key-" * 3, algorithm="HS256")

    await assert_refused(socket(token=forged))


async def test_a_refresh_token_used_as_access_is_refused(member, login):
    tokens = await in_thread(login)(member)

    error = await assert_refused(socket(token=tokens["refresh"]))
    await assert_refused(socket(query_token=tokens["refresh"]))

    assert error["message"] == REFRESH_AS_ACCESS


@pytest.mark.parametrize(
    "authorization", ["Basic abc", "Token abc", "Bearer", "Bearer ", ""], ids=repr
)
async def test_an_authorization_header_that_is_not_a_bearer_token_is_refused(
    authorization, settings
):
    # Refused at once, not after the auth timeout.
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 30

    error = await assert_refused(socket(headers=[(b"authorization", authorization.encode())]))

    assert error["message"] == UNUSABLE_CREDENTIALS


async def test_a_basic_header_is_refused_even_with_a_valid_token_in_the_query(member, login):
    access = (await in_thread(login)(member))["access"]

    await assert_refused(socket(query_token=access, headers=[(b"authorization", b"Basic abc")]))


@pytest.mark.parametrize("query", ["", "%20"], ids=["empty", "blank"])
async def test_an_empty_token_query_parameter_is_refused_at_once(query, settings):
    # Presented but empty: not "no credentials", so no waiting for an auth message.
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 30

    async with opened(socket(query_token=query)) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        assert not await communicator.receive_nothing(TIMEOUT), (
            "no answer: the empty token was taken for no credentials, and the socket "
            "waits for an auth message"
        )
        await assert_closed_unauthorized(communicator)


async def test_a_token_of_a_session_ended_by_logout_is_refused(member, client_for):
    client = await in_thread(client_for)(member)
    response = await in_thread(post)(client, LOGOUT_URL)
    assert response.status_code == 204, response.content

    error = await assert_refused(socket(token=client.tokens["access"]))
    await assert_refused(socket(query_token=client.tokens["access"]))

    assert error["message"] == SESSION_ENDED


async def test_a_token_of_a_deactivated_user_is_refused(member, login):
    access = (await in_thread(login)(member))["access"]
    await in_thread(user_set_active)(user=member, is_active=False)

    await assert_refused(socket(token=access))


async def test_a_session_cookie_after_django_logout_is_refused(member):
    client, key = await in_thread(session_cookie)(member)
    await in_thread(client.logout)()

    assert (await assert_refused(socket(cookie=key)))["message"] == LOGIN_SESSION_ENDED


async def test_a_session_cookie_of_a_deactivated_user_is_refused(member):
    _, key = await in_thread(session_cookie)(member)
    await in_thread(user_set_active)(user=member, is_active=False)

    await assert_refused(socket(cookie=key))


@pytest.mark.parametrize("value", ["garbage", "0" * 32, "a" * 300])
async def test_a_bad_session_cookie_is_refused(value):
    await assert_refused(socket(cookie=value))


async def test_an_invalid_header_is_not_rescued_by_a_valid_cookie(member):
    _, key = await in_thread(session_cookie)(member)

    await assert_refused(socket(token="not-a-token", cookie=key))
    await assert_refused(socket(cookie=key, headers=[(b"authorization", b"Basic abc")]))
    await assert_refused(socket(query_token="not-a-token", cookie=key))


async def test_a_refused_socket_gets_no_events(member, other_member):
    # The middleware leaves the scope's user anonymous; nothing joins a group.
    async with opened(socket(token="not-a-token")) as communicator:
        await communicator.connect(TIMEOUT)
        await assert_closed_unauthorized(communicator)
        await in_thread(TaskFactory)(owner=member)

        assert await communicator.receive_nothing(timeout=0.3)


# 3. An open socket closes when its session, user or token is done.


async def test_logout_closes_the_socket_of_that_session(member, client_for, fast_recheck):
    client = await in_thread(client_for)(member)
    async with opened(socket(token=client.tokens["access"])) as communicator:
        await connected(communicator)

        response = await in_thread(post)(client, LOGOUT_URL)
        assert response.status_code == 204, response.content

        await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)


async def test_logout_of_another_session_leaves_the_socket_open(member, client_for, recheck_spy):
    kept = await in_thread(client_for)(member)
    ended = await in_thread(client_for)(member)
    async with opened(socket(token=kept.tokens["access"])) as communicator:
        await connected(communicator)

        response = await in_thread(post)(ended, LOGOUT_URL)
        assert response.status_code == 204, response.content
        await recheck_spy.wait_for_checks(member)

        assert await communicator.receive_nothing(timeout=0.05)
        await send(communicator, {"type": "ping"})
        assert await receive(communicator) == {"type": "pong"}


async def test_logout_all_closes_every_socket_of_the_user(
    member, other_member, client_for, recheck_spy
):
    first = await in_thread(client_for)(member)
    second = await in_thread(client_for)(member)
    bystander = await in_thread(client_for)(other_member)
    async with (
        opened(socket(token=first.tokens["access"])) as one,
        opened(socket(query_token=second.tokens["access"])) as two,
        opened(socket(token=bystander.tokens["access"])) as unrelated,
    ):
        for communicator in (one, two, unrelated):
            await connected(communicator)

        response = await in_thread(post)(first, LOGOUT_ALL_URL)
        assert response.status_code == 204, response.content

        await assert_closed_unauthorized(one, CLOSE_TIMEOUT)
        await assert_closed_unauthorized(two, CLOSE_TIMEOUT)
        await recheck_spy.wait_for_checks(other_member)
        await send(unrelated, {"type": "ping"})
        assert await receive(unrelated) == {"type": "pong"}


async def test_a_replayed_refresh_token_closes_the_sockets_of_the_session(
    member, client_for, api_client, recheck_spy
):
    client = await in_thread(client_for)(member)
    refresh = client.tokens["refresh"]
    async with opened(socket(token=client.tokens["access"])) as old_access:
        await connected(old_access)
        rotated = await in_thread(post)(api_client, REFRESH_URL, {"refresh": refresh})
        assert rotated.status_code == 200, rotated.content
        async with opened(socket(token=rotated.json()["access"])) as new_access:
            await connected(new_access)
            # A rotation alone ends nothing.
            await recheck_spy.wait_for_checks(member, count=4)
            for communicator in (old_access, new_access):
                await send(communicator, {"type": "ping"})
                assert await receive(communicator) == {"type": "pong"}

            replay = await in_thread(post)(api_client, REFRESH_URL, {"refresh": refresh})
            assert replay.status_code == 401, replay.content

            await assert_closed_unauthorized(old_access, CLOSE_TIMEOUT)
            await assert_closed_unauthorized(new_access, CLOSE_TIMEOUT)


async def test_deactivating_the_user_closes_their_sockets(member, login, fast_recheck):
    access = (await in_thread(login)(member))["access"]
    _, key = await in_thread(session_cookie)(member)
    async with (
        opened(socket(token=access)) as by_token,
        opened(socket(cookie=key)) as by_cookie,
    ):
        await connected(by_token)
        await connected(by_cookie)

        await in_thread(user_set_active)(user=member, is_active=False)

        await assert_closed_unauthorized(by_token, CLOSE_TIMEOUT)
        await assert_closed_unauthorized(by_cookie, CLOSE_TIMEOUT)


async def test_the_socket_closes_when_its_access_token_expires(member, login, settings):
    settings.WEBSOCKET_RECHECK_SECONDS = 0.2
    access = (await in_thread(login)(member))["access"]
    # Whole seconds: between 1 and 2 s from now.
    exp = int(time.time()) + 2
    short_lived = access_expiring_at(access, exp, settings)
    async with opened(socket(token=short_lived)) as communicator:
        await connected(communicator)

        await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)

        assert time.time() >= exp


async def test_the_socket_closes_at_its_token_expiry_even_between_rechecks(member, login, settings):
    # The periodic check is far off; the token's own expiry still ends the socket.
    settings.WEBSOCKET_RECHECK_SECONDS = 60
    access = (await in_thread(login)(member))["access"]
    exp = int(time.time()) + 2
    short_lived = access_expiring_at(access, exp, settings)
    async with opened(socket(query_token=short_lived)) as communicator:
        await connected(communicator)

        await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)

        assert exp <= time.time() < exp + 2.0


async def test_a_cookie_socket_closes_when_the_django_session_is_logged_out(member, fast_recheck):
    client, key = await in_thread(session_cookie)(member)
    async with opened(socket(cookie=key)) as communicator:
        await connected(communicator)

        await in_thread(client.logout)()

        await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)


async def test_a_cookie_socket_closes_when_the_session_is_logged_out_through_the_api(
    member, fast_recheck
):
    client, key = await in_thread(session_cookie_by_login_form)(member)
    async with opened(socket(cookie=key)) as communicator:
        await connected(communicator)

        response = await in_thread(client.post)(LOGOUT_URL)
        assert response.status_code == 204, response.content

        await assert_closed_unauthorized(communicator, CLOSE_TIMEOUT)


async def test_a_password_change_closes_the_other_sessions_sockets(member, client_for, recheck_spy):
    changer = await in_thread(client_for)(member)
    other = await in_thread(client_for)(member)
    _, key = await in_thread(session_cookie)(member)
    async with (
        opened(socket(token=changer.tokens["access"])) as own,
        opened(socket(token=other.tokens["access"])) as by_token,
        opened(socket(cookie=key)) as by_cookie,
    ):
        for communicator in (own, by_token, by_cookie):
            await connected(communicator)

        response = await in_thread(changer.patch)(
            ME_URL,
            {"current_password": PASSWORD, "password": "Another-Copper-Lantern-43"},
            format="json",
        )
        assert response.status_code == 200, response.content

        await assert_closed_unauthorized(by_token, CLOSE_TIMEOUT)
        await assert_closed_unauthorized(by_cookie, CLOSE_TIMEOUT)
        # The session that made the change stays signed in (its socket alone is
        # checked now).
        await recheck_spy.wait_for_checks(member)
        await send(own, {"type": "ping"})
        assert await receive(own) == {"type": "pong"}


# 4. Role changes follow into and out of the "all tasks" group.


async def test_a_member_promoted_to_manager_receives_events_of_others_tasks(
    member, other_member, login, recheck_spy
):
    access = (await in_thread(login)(member))["access"]
    async with opened(socket(token=access)) as communicator:
        await connected(communicator)
        await in_thread(TaskFactory)(owner=other_member)
        await assert_silent(communicator)

        await in_thread(user_set_role)(user=member, role=Role.MANAGER)
        await recheck_spy.wait_for_checks(member)
        others_task = await in_thread(TaskFactory)(owner=other_member)

        event = await next_of_type(communicator, "task.created")
        assert event["task"]["id"] == others_task.pk
        assert event["actor"] == other_member.pk


async def test_a_manager_demoted_to_member_stops_receiving_events_of_others_tasks(
    manager, other_member, login, recheck_spy
):
    access = (await in_thread(login)(manager))["access"]
    async with opened(socket(token=access)) as communicator:
        await connected(communicator)
        before = await in_thread(TaskFactory)(owner=other_member)
        assert (await next_of_type(communicator, "task.created"))["task"]["id"] == before.pk

        await in_thread(user_set_role)(user=manager, role=Role.MEMBER)
        await recheck_spy.wait_for_checks(manager)
        await in_thread(TaskFactory)(owner=other_member)

        await assert_silent(communicator)
        # Still a user with their own tasks: those keep coming.
        own = await in_thread(TaskFactory)(owner=manager)
        assert (await next_of_type(communicator, "task.created"))["task"]["id"] == own.pk


# 5. Origin.


async def test_a_socket_without_origin_is_accepted(member, login):
    access = (await in_thread(login)(member))["access"]

    await assert_ready_as(socket(token=access), member)


@pytest.mark.parametrize(
    "origin", ["http://localhost:8000", "http://127.0.0.1:8000", "https://localhost"]
)
async def test_a_socket_from_an_allowed_origin_is_accepted(member, login, origin):
    access = (await in_thread(login)(member))["access"]

    await assert_ready_as(socket(token=access, origin=origin), member)


async def test_a_socket_from_a_cors_allowed_origin_is_accepted(member, login, settings):
    # The validator takes its list when the application is built: build one here
    # around the project's own stack.
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    validator = sockets.application.application_mapping["websocket"].inner
    application = browser_origin_validator(validator.application)
    access = (await in_thread(login)(member))["access"]
    headers = [(b"authorization", f"Bearer {access}".encode())]

    for origin, allowed in [("https://app.example", True), ("http://app.example", False)]:
        communicator = WebsocketCommunicator(
            application, sockets.WS_PATH, headers=[*headers, (b"origin", origin.encode())]
        )
        async with opened(communicator):
            accepted, _ = await communicator.connect(TIMEOUT)
            assert accepted
            first = await receive(communicator)
            assert first["type"] == ("ready" if allowed else "error"), (origin, first)


async def assert_refused_for_its_origin(communicator: WebsocketCommunicator) -> None:
    """Accepted only to say why: `permission_denied`, close 4403, no `ready` (a refused
    handshake is an empty HTTP 403 that no browser shows to the page)."""
    async with opened(communicator):
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted

        error = await receive(communicator)
        closing = await communicator.receive_output(TIMEOUT)

    assert sockets.error_code(error) == "permission_denied"
    assert error["error"]["message"] == FOREIGN_ORIGIN
    assert closing == {"type": "websocket.close", "code": 4403}


@pytest.mark.parametrize("credentials", ["token", "cookie"])
async def test_a_socket_from_a_foreign_origin_is_refused_before_its_credentials_are_read(
    member, login, credentials, monkeypatch
):
    access = (await in_thread(login)(member))["access"]
    _, key = await in_thread(session_cookie)(member)
    kwargs = {"token": access} if credentials == "token" else {"cookie": key}
    read: list[str] = []
    monkeypatch.setattr("realtime.authentication.identify_token", lambda raw: read.append(raw))
    monkeypatch.setattr("realtime.authentication.identify_session", lambda key: read.append(key))

    await assert_refused_for_its_origin(socket(origin="https://evil.example", **kwargs))

    assert read == []


@pytest.mark.parametrize(
    "origin",
    [
        "https://localhost.evil.example",
        "https://evil-localhost",
        "null",
        "http://evil.example:8000",
        "http://[::1",  # not a URL: urlparse raises
    ],
)
async def test_lookalike_origins_are_refused(member, login, origin):
    access = (await in_thread(login)(member))["access"]

    await assert_refused_for_its_origin(socket(token=access, origin=origin))


# 6. A token in the query string stays out of the logs.


@pytest.mark.parametrize("kind", ["valid", "bad_signature", "garbage"])
async def test_the_query_token_is_not_logged(member, login, every_logger_at_debug, kind):
    caplog = every_logger_at_debug
    access = (await in_thread(login)(member))["access"]
    token = {
        "valid": access,
        "bad_signature": access[:-8] + "AAAAAAAA",
        "garbage": "garbage-token-5f3a9c2e7b1d4e6f",
    }[kind]
    caplog.clear()

    async with opened(socket(query_token=token)) as communicator:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        first = await receive(communicator)
        assert first["type"] == ("ready" if kind == "valid" else "error"), first

    # The signature alone is the secret part of a JWT.
    secret = token.rsplit(".", 1)[-1]
    for record in caplog.records:
        logged = f"{record.getMessage()} {record.__dict__!r}"
        assert secret not in logged, record
    assert secret not in caplog.text
