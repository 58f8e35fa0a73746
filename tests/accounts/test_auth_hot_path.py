"""What an authenticated request costs: one cache round trip, no query when warm."""

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache, caches

pytestmark = pytest.mark.django_db

_CACHE_CALLS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many", "incr")


@pytest.fixture
def cache_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Calls made to the cache from outside it (a backend's get_many may call get)."""
    calls: list[str] = []
    depth = [0]
    backend = caches["default"]  # the object behind the `cache` proxy in this thread
    for name in _CACHE_CALLS:
        original = getattr(backend, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            if depth[0] == 0:
                calls.append(_name)
            depth[0] += 1
            try:
                return _original(*args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(backend, name, spy)
    return calls


@pytest.mark.skipif(
    bool(django_settings.REDIS_URL),
    reason="on Redis, authentication reads ahead (tests/tasks/test_read_ahead.py)",
)
def test_warm_request_costs_one_cache_round_trip_and_no_query(
    member_client, cache_calls, django_assert_num_queries, settings
):
    # Authentication alone: the read throttle's counter is a round trip of its own,
    # measured in tests/taskmanager/test_throttle_counter.py.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": None}
    assert member_client.get("/api/v1/users/me/").status_code == 200  # warms the cache
    cache_calls.clear()

    with django_assert_num_queries(0):
        response = member_client.get("/api/v1/users/me/")

    assert response.status_code == 200
    assert response.json()["username"] == "mia"
    assert cache_calls == ["get_many"]


def test_permission_checks_are_answered_from_the_cached_snapshot(
    admin_client, django_assert_num_queries
):
    assert admin_client.get("/api/v1/users/me/").status_code == 200

    # The list needs `accounts.manage_users`; answering it from the database would add
    # two queries (user and group permissions) to the count, the page and its groups.
    with django_assert_num_queries(3):
        response = admin_client.get("/api/v1/users/")

    assert response.status_code == 200


def test_cold_cache_falls_back_to_the_database(member_client, django_assert_num_queries):
    from accounts.auth_cache import session_key, user_key
    from tests.helpers import claims

    token = claims(member_client.tokens["access"])
    cache.delete_many([session_key(token["sid"]), user_key(token["user_id"])])

    # session, user, its groups, its own and its groups' permissions
    with django_assert_num_queries(5):
        response = member_client.get("/api/v1/users/me/")

    assert response.status_code == 200
    assert response.json()["username"] == "mia"


def test_ended_session_is_refused_even_while_its_state_was_cached(member_client, api_client):
    assert member_client.get("/api/v1/users/me/").status_code == 200  # cached as live

    assert member_client.post("/api/v1/auth/logout/").status_code == 204

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {member_client.tokens['access']}")
    assert api_client.get("/api/v1/users/me/").status_code == 401


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_after_commit_the_ended_state_is_published_for_every_process(member_client):
    from accounts.auth_cache import session_key
    from tests.helpers import claims

    sid = claims(member_client.tokens["access"])["sid"]
    assert member_client.get("/api/v1/users/me/").status_code == 200

    assert member_client.post("/api/v1/auth/logout/").status_code == 204

    assert cache.get(session_key(sid))["ended"] is True
