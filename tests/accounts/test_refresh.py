from datetime import UTC, datetime, timedelta

import jwt
import pytest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import UserSession
from tests.helpers import (
    ME_URL,
    REFRESH_URL,
    assert_error,
    assert_field_error,
    bearer_client,
    claims,
)

pytestmark = pytest.mark.django_db


def post_refresh(api_client, refresh):
    return api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")


def test_refresh_answers_a_new_pair_in_the_same_session(api_client, member, login, settings):
    tokens = login(member)

    response = post_refresh(api_client, tokens["refresh"])

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.ACCESS_TOKEN_MINUTES * 60
    assert body["access"] != tokens["access"]
    assert body["refresh"] != tokens["refresh"]
    sid = claims(tokens["refresh"])["sid"]
    assert claims(body["access"])["sid"] == sid
    assert claims(body["refresh"])["sid"] == sid
    assert UserSession.objects.get(pk=sid).refresh_jti == claims(body["refresh"])["jti"]


def test_refreshed_access_token_authenticates(api_client, member, login):
    tokens = login(member)

    new = post_refresh(api_client, tokens["refresh"]).json()

    me = bearer_client(new["access"]).get(ME_URL)
    assert me.status_code == 200, me.content
    assert me.json()["username"] == "mia"


def test_refresh_blacklists_the_rotated_refresh_token(api_client, member, login):
    tokens = login(member)

    assert post_refresh(api_client, tokens["refresh"]).status_code == 200

    assert BlacklistedToken.objects.filter(token__jti=claims(tokens["refresh"])["jti"]).exists()


def test_a_chain_of_refreshes_keeps_working(api_client, member, login):
    refresh = login(member)["refresh"]

    for _ in range(3):
        response = post_refresh(api_client, refresh)
        assert response.status_code == 200, response.content
        refresh = response.json()["refresh"]

    assert UserSession.objects.get(user=member).ended_at is None


def test_replayed_refresh_ends_the_whole_session(api_client, member, login, committed):
    first = login(member)
    sid = claims(first["refresh"])["sid"]
    second = post_refresh(api_client, first["refresh"]).json()
    # The access token of the session works before the replay.
    assert bearer_client(second["access"]).get(ME_URL).status_code == 200

    with committed():
        replay = post_refresh(api_client, first["refresh"])

    assert_error(replay, 401, "authentication_failed")
    session = UserSession.objects.get(pk=sid)
    assert session.ended_at is not None
    assert session.end_reason == "replay"
    assert_error(post_refresh(api_client, second["refresh"]), 401, "authentication_failed")
    assert_error(bearer_client(second["access"]).get(ME_URL), 401, "authentication_failed")
    assert_error(bearer_client(first["access"]).get(ME_URL), 401, "authentication_failed")


def test_replay_in_one_session_leaves_other_sessions_alone(api_client, member, login, committed):
    victim, other = login(member), login(member)
    assert bearer_client(other["access"]).get(ME_URL).status_code == 200
    post_refresh(api_client, victim["refresh"])

    with committed():
        replay = post_refresh(api_client, victim["refresh"])

    assert_error(replay, 401, "authentication_failed")

    assert bearer_client(other["access"]).get(ME_URL).status_code == 200
    assert post_refresh(api_client, other["refresh"]).status_code == 200
    assert UserSession.objects.get(pk=claims(other["refresh"])["sid"]).ended_at is None


def test_access_token_sent_as_refresh_is_401(api_client, member, login, committed):
    tokens = login(member)
    assert bearer_client(tokens["access"]).get(ME_URL).status_code == 200

    with committed():
        response = post_refresh(api_client, tokens["access"])

    assert_error(response, 401, "authentication_failed")
    # Not a replay: the session goes on.
    assert bearer_client(tokens["access"]).get(ME_URL).status_code == 200


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_garbage_refresh_is_401(api_client, garbage):
    assert_error(post_refresh(api_client, garbage), 401, "authentication_failed")


def test_refresh_without_the_field_is_400_naming_refresh(api_client):
    response = api_client.post(REFRESH_URL, {}, format="json")

    assert_field_error(response, "refresh")


def test_refresh_signed_with_another_key_is_401(api_client, member, login):
    forged = jwt.encode(claims(login(member)["refresh"]), "another-key-" * 4, algorithm="HS256")

    assert_error(post_refresh(api_client, forged), 401, "authentication_failed")


def test_expired_refresh_is_401(api_client, member, login, settings):
    payload = claims(login(member)["refresh"])
    payload["exp"] = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    expired = jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")

    assert_error(post_refresh(api_client, expired), 401, "authentication_failed")
