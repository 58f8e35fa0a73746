"""A session end that answers success holds in every process, whatever the cache does.

The authentication cache keeps sessions and users as "live" for up to a minute. An
end that the cache was not told of would leave that entry in place, and every
process would accept the token until it expires: so when the cache refuses writes
(Redis down, or refusing writes while it fails over), the end is rolled back and the
request answers 503 instead. Here a cache that serves reads and drops writes: on
Redis, a client whose writes go to a closed port (as django-redis, which swallows the
errors, sees a refusing server); on the local-memory cache, a backend that drops
them. tests/e2e/test_session_end_redis_paused.py does it with a paused Redis.
"""

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.test import override_settings
from django_redis.cache import RedisCache
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts import auth_cache, services
from accounts.models import User, UserSession
from accounts.roles import Role
from tests.e2e.servers import free_port
from tests.factories import PASSWORD
from tests.helpers import ME_URL, REFRESH_URL, TokenClient, assert_error, bearer_client, claims

pytestmark = pytest.mark.django_db

LOGOUT_URL = "/api/v1/auth/logout/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"


class WriteDroppingCache(LocMemCache):
    """Serves what it holds and drops every write, reporting it as Django's API lets
    a backend report (set_many: the keys it failed to write)."""

    def add(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def set(self, *args: Any, **kwargs: Any) -> None:
        return None

    def set_many(self, data: dict[str, Any], *args: Any, **kwargs: Any) -> list[str]:
        return list(data)

    def delete(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def delete_many(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture
def cache_refusing_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """`refuse()`: from then on the cache serves reads and loses writes (with what it
    held so far kept)."""
    backend = caches["default"]
    refusing: list[Any] = []

    def refuse() -> None:
        if isinstance(backend, RedisCache):
            # Failing at once, as the app's own clients do: redis-py's own client
            # would back off for seconds before each error (its default retries).
            dead = redis.Redis(
                port=free_port(),
                socket_connect_timeout=0.2,
                socket_timeout=0.2,
                retry=Retry(NoBackoff(), 0),
            )
            original = backend.client.get_client

            def get_client(write: bool = True, **kwargs: Any) -> Any:
                return dead if write else original(write=False, **kwargs)

            monkeypatch.setattr(backend.client, "get_client", get_client)
        else:
            # Same location: the entries cached so far stay readable.
            refused = copy.deepcopy(django_settings.CACHES)
            refused["default"]["BACKEND"] = f"{__name__}.WriteDroppingCache"
            override = override_settings(CACHES=refused)
            override.enable()
            refusing.append(override)

    yield refuse
    for override in refusing:
        override.disable()


def live(client: TokenClient) -> bool:
    return bool(client.get(ME_URL).status_code == 200)


def session_of(client: TokenClient) -> UserSession:
    return UserSession.objects.get(pk=claims(client.tokens["access"])["sid"])


def assert_unavailable(response: Any) -> None:
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"].isdigit()


def assert_untouched(*clients: TokenClient) -> None:
    """Nothing of the refused end was written: sessions live, refresh tokens usable."""
    for client in clients:
        session = session_of(client)
        assert session.ended_at is None
        assert session.end_reason == ""
        assert not BlacklistedToken.objects.filter(token__jti=session.refresh_jti).exists()


# Every way a user ends their own sessions.

ENDS = {
    "logout": lambda own, other: own.post(LOGOUT_URL),
    "logout-all": lambda own, other: own.post(LOGOUT_ALL_URL),
    "delete-session": lambda own, other: own.delete(
        f"/api/v1/auth/sessions/{claims(other.tokens['access'])['sid']}/"
    ),
    "password-change": lambda own, other: own.patch(
        ME_URL,
        {"current_password": PASSWORD, "password": "Another-Copper-Lantern-43"},
        format="json",
    ),
}
# The session each end must end: the caller's own, or the other one.
ENDED = {
    "logout": "own",
    "logout-all": "own",
    "delete-session": "other",
    "password-change": "other",
}


@pytest.mark.parametrize("end", list(ENDS))
def test_a_session_end_the_cache_refuses_is_503_and_rolled_back(
    end, member, client_for, cache_refusing_writes
):
    own, other = client_for(member), client_for(member)
    assert live(own) and live(other)  # cached as live in every process
    cache_refusing_writes()

    response = ENDS[end](own, other)

    assert_unavailable(response)
    assert_untouched(own, other)
    assert live(own) and live(other)


@pytest.mark.parametrize("end", list(ENDS))
def test_a_session_end_that_answers_success_is_refused_at_once(end, member, client_for, committed):
    own, other = client_for(member), client_for(member)
    assert live(own) and live(other)

    with committed():
        response = ENDS[end](own, other)

    assert response.status_code in (200, 204), response.content
    ended = own if ENDED[end] == "own" else other
    assert_error(bearer_client(ended.tokens["access"]).get(ME_URL), 401, "authentication_failed")


def test_deactivating_a_user_the_cache_cannot_be_told_of_is_503_and_rolled_back(
    admin_client, member, client_for, cache_refusing_writes
):
    victim = client_for(member)
    assert live(victim)
    cache_refusing_writes()

    response = admin_client.patch(f"/api/v1/users/{member.pk}/", {"is_active": False})

    assert_unavailable(response)
    assert User.objects.get(pk=member.pk).is_active
    assert_untouched(victim)


def test_a_demotion_the_cache_cannot_be_told_of_is_503_and_rolled_back(
    admin_client, manager, client_for, cache_refusing_writes
):
    demoted = client_for(manager)
    assert demoted.get(ME_URL).json()["role"] == Role.MANAGER
    cache_refusing_writes()

    response = admin_client.patch(f"/api/v1/users/{manager.pk}/", {"role": Role.MEMBER})

    assert_unavailable(response)
    # Not half done: still a manager in the database and in every process's view.
    assert User.objects.get(pk=manager.pk).role == Role.MANAGER
    assert demoted.get(ME_URL).json()["role"] == Role.MANAGER


def test_an_operators_password_reset_the_cache_refuses_raises_and_changes_nothing(
    member, client_for, cache_refusing_writes
):
    victim = client_for(member)
    assert live(victim)
    cache_refusing_writes()

    with pytest.raises(auth_cache.SessionStoreUnavailable):
        services.user_reset_password(user=member, password="Another-Copper-Lantern-43")

    assert User.objects.get(pk=member.pk).check_password(PASSWORD)
    assert_untouched(victim)


def test_deleting_a_user_the_cache_cannot_be_told_of_raises_and_deletes_nothing(
    member, client_for, cache_refusing_writes
):
    victim = client_for(member)
    assert live(victim)
    cache_refusing_writes()

    # The deletion's own transaction (as in `manage.py shell`, autocommit) rolls back.
    with pytest.raises(auth_cache.SessionStoreUnavailable), transaction.atomic():
        User.objects.filter(pk=member.pk).delete()

    assert User.objects.filter(pk=member.pk).exists()
    assert live(victim)


def test_a_replayed_refresh_token_ends_the_session_even_when_the_cache_refuses(
    api_client, member, client_for, cache_refusing_writes
):
    # A replay is no success to report, and the stolen session must end whatever the
    # cache does: the ending commits (its access tokens die when their entries expire).
    victim = client_for(member)
    first = victim.tokens["refresh"]
    assert api_client.post(REFRESH_URL, {"refresh": first}, format="json").status_code == 200
    cache_refusing_writes()

    response = api_client.post(REFRESH_URL, {"refresh": first}, format="json")

    assert_error(response, 401, "authentication_failed")
    assert session_of(victim).end_reason == UserSession.EndReason.REPLAY


# The marker: how a change in flight keeps readers off the cache.


def test_a_reader_meeting_a_change_in_flight_asks_the_database_and_caches_nothing(
    member_client, member
):
    sid = claims(member_client.tokens["access"])["sid"]
    assert live(member_client)
    # What a session end writes inside its transaction, before it commits.
    auth_cache.publish_unsettled([auth_cache.session_key(sid)])
    UserSession.objects.filter(pk=sid).update(ended_at=session_of(member_client).created_at)

    assert auth_cache.authenticated_user(member.pk, sid) is None
    # A reader that loaded the row before the commit cannot put "live" back.
    assert cache.get(auth_cache.session_key(sid)) == auth_cache.UNSETTLED


def test_a_change_that_rolls_back_leaves_the_database_state_in_force(member_client, member):
    sid = claims(member_client.tokens["access"])["sid"]
    assert live(member_client)

    with pytest.raises(RuntimeError), transaction.atomic():
        services.session_end(user=member, session_id=sid)
        raise RuntimeError("the transaction fails after the cache was told")

    assert session_of(member_client).ended_at is None
    assert live(member_client)
