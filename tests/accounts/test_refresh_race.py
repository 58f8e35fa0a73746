"""Refreshes racing with one token: the database lets exactly one of them rotate it."""

import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from accounts.models import UserSession
from tests.accounts.conftest import REFRESH_URL, claims

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks across connections: PostgreSQL"
    ),
]


@pytest.mark.parametrize("racers", [2, 20])
def test_racing_refreshes_with_one_token_let_exactly_one_succeed(login, member, racers):
    tokens = login(member)
    barrier = threading.Barrier(racers)
    statuses: list[int] = []
    lock = threading.Lock()

    def refresh() -> None:
        try:
            barrier.wait()
            response = APIClient().post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
            with lock:
                statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] + [401] * (racers - 1)
    # The losers presented a token that had just been rotated: a replay, per the design,
    # so the session is ended rather than left with two live branches.
    session = UserSession.objects.get(pk=claims(tokens["refresh"])["sid"])
    assert session.ended_at is not None
    assert session.end_reason == UserSession.EndReason.REPLAY
