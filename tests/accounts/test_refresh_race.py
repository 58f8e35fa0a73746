"""Refreshes racing with one token: the database lets exactly one of them rotate it.

DESIGN.md, "Sessions and tokens": presenting a refresh token that was already rotated
is a replay, and a replay ends the whole session with a 401. The losers of a race
present a token the winner has just rotated, so the session ends: the winner's new
pair dies with it, and the user's other sessions go on.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import UserSession
from tests.helpers import ME_URL, REFRESH_URL, assert_error, bearer_client, claims

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks across connections: PostgreSQL"
    ),
]


@pytest.fixture(autouse=True)
def _generous_write_rate(settings: Any) -> None:
    # Refreshes count as `write` per client IP, and every racer here comes from one.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "1000/min"}


def race_refreshes(refresh_tokens: list[str]) -> list[Any]:
    """POST each refresh token from its own thread, all released together; the responses."""
    barrier = threading.Barrier(len(refresh_tokens))
    responses: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def refresh(token: str) -> None:
        try:
            barrier.wait()
            response = APIClient().post(REFRESH_URL, {"refresh": token}, format="json")
            with lock:
                responses.append(response)
        except BaseException as exc:  # re-raised below: a thread's failure fails the test
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh, args=(token,)) for token in refresh_tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a refresh did not finish"
    if errors:
        raise errors[0]
    return responses


@pytest.mark.parametrize("racers", [2, 20])
def test_racing_refreshes_with_one_token_let_exactly_one_succeed(login, member, racers):
    tokens = login(member)
    bystander = login(member)  # another session of the same user
    sid = claims(tokens["refresh"])["sid"]

    responses = race_refreshes([tokens["refresh"]] * racers)

    assert sorted(r.status_code for r in responses) == [200] + [401] * (racers - 1)
    for response in responses:
        if response.status_code == 401:
            assert_error(response, 401, "authentication_failed")
    (winner,) = (r.json() for r in responses if r.status_code == 200)
    assert claims(winner["refresh"])["sid"] == sid
    # The presented token was rotated once: blacklisted once, one new pair issued.
    assert BlacklistedToken.objects.filter(token__jti=claims(tokens["refresh"])["jti"]).count() == 1
    assert OutstandingToken.objects.filter(user=member).count() == 3  # two logins + one rotation

    # The losers presented a token that had just been rotated: a replay, per the design,
    # so the session is ended rather than left with two live branches.
    session = UserSession.objects.get(pk=sid)
    assert session.ended_at is not None
    assert session.end_reason == UserSession.EndReason.REPLAY
    # Ended means every token of the session: the winner's new pair and the old access.
    replayed = APIClient().post(REFRESH_URL, {"refresh": winner["refresh"]})
    assert_error(replayed, 401, "authentication_failed")
    for access in (winner["access"], tokens["access"]):
        assert_error(bearer_client(access).get(ME_URL), 401, "authentication_failed")
    # Only that session: the user's other session is untouched.
    assert UserSession.objects.get(pk=claims(bystander["refresh"])["sid"]).ended_at is None
    assert bearer_client(bystander["access"]).get(ME_URL).status_code == 200
    assert APIClient().post(REFRESH_URL, {"refresh": bystander["refresh"]}).status_code == 200


def test_racing_refreshes_of_different_sessions_all_succeed(
    login: Callable[..., dict[str, Any]], member, settings
):
    """Row locks are per session: 20 sessions of one user rotating at once neither
    block each other into failure nor look like replays."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "100/min", "login_ip": "100/min"}
    sessions = [login(member) for _ in range(20)]

    responses = race_refreshes([tokens["refresh"] for tokens in sessions])

    assert [r.status_code for r in responses] == [200] * 20
    assert not UserSession.objects.filter(user=member, ended_at__isnull=False).exists()
    for response in responses:
        assert bearer_client(response.json()["access"]).get(ME_URL).status_code == 200
