import uuid

import pytest

from accounts.models import UserSession
from tests.helpers import ME_URL, REFRESH_URL, TokenClient, assert_error, bearer_client, claims

pytestmark = pytest.mark.django_db

LOGOUT_URL = "/api/v1/auth/logout/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"
SESSIONS_URL = "/api/v1/auth/sessions/"
SESSION_SHAPE = {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}


def sid_of(client: TokenClient) -> str:
    return claims(client.tokens["access"])["sid"]


def post_refresh(api_client, refresh):
    return api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")


# --- logout -----------------------------------------------------------------


def test_logout_ends_the_session_of_the_access_token(api_client, member_client, committed):
    assert member_client.get(ME_URL).status_code == 200

    with committed():
        response = member_client.post(LOGOUT_URL)

    assert response.status_code == 204, response.content
    session = UserSession.objects.get(pk=sid_of(member_client))
    assert session.ended_at is not None
    assert session.end_reason
    assert_error(member_client.get(ME_URL), 401, "authentication_failed")
    assert_error(
        post_refresh(api_client, member_client.tokens["refresh"]), 401, "authentication_failed"
    )


def test_logout_is_seen_at_once_by_another_client_with_the_same_token(member_client, committed):
    other_client = bearer_client(member_client.tokens["access"])
    assert other_client.get(ME_URL).status_code == 200

    with committed():
        assert member_client.post(LOGOUT_URL).status_code == 204

    assert_error(other_client.get(ME_URL), 401, "authentication_failed")


def test_logout_leaves_the_users_other_sessions_alone(api_client, member, client_for, committed):
    leaving, staying = client_for(member), client_for(member)
    assert staying.get(ME_URL).status_code == 200

    with committed():
        assert leaving.post(LOGOUT_URL).status_code == 204

    assert staying.get(ME_URL).status_code == 200
    assert UserSession.objects.get(pk=sid_of(staying)).ended_at is None
    assert post_refresh(api_client, staying.tokens["refresh"]).status_code == 200


def test_logout_twice_with_the_same_token_is_401(member_client, committed):
    with committed():
        assert member_client.post(LOGOUT_URL).status_code == 204

    assert_error(member_client.post(LOGOUT_URL), 401, "authentication_failed")


@pytest.mark.parametrize("url", [LOGOUT_URL, LOGOUT_ALL_URL])
def test_logging_out_anonymously_is_401_with_a_bearer_challenge(api_client, url):
    response = api_client.post(url)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --- logout-all ---------------------------------------------------------------


def test_logout_all_ends_every_session_of_the_user(api_client, member, client_for, committed):
    first, second, third = client_for(member), client_for(member), client_for(member)
    for client in (first, second, third):
        assert client.get(ME_URL).status_code == 200

    with committed():
        response = second.post(LOGOUT_ALL_URL)

    assert response.status_code == 204, response.content
    assert not UserSession.objects.filter(user=member, ended_at__isnull=True).exists()
    for client in (first, second, third):
        assert_error(client.get(ME_URL), 401, "authentication_failed")
        assert_error(
            post_refresh(api_client, client.tokens["refresh"]), 401, "authentication_failed"
        )


def test_logout_all_leaves_other_users_sessions_alone(
    member_client, other_member_client, committed
):
    assert other_member_client.get(ME_URL).status_code == 200

    with committed():
        assert member_client.post(LOGOUT_ALL_URL).status_code == 204

    assert other_member_client.get(ME_URL).status_code == 200
    assert UserSession.objects.get(pk=sid_of(other_member_client)).ended_at is None


# --- sessions ----------------------------------------------------------------


def test_sessions_lists_the_live_sessions_and_marks_the_current_one(
    member, client_for, other_member_client
):
    current = client_for(member, REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Firefox/140")
    elsewhere = client_for(member, REMOTE_ADDR="198.51.100.5", HTTP_USER_AGENT="curl/8")

    response = current.get(SESSIONS_URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert body["next"] is None
    assert body["previous"] is None
    by_id = {session["id"]: session for session in body["results"]}
    assert set(by_id) == {sid_of(current), sid_of(elsewhere)}
    for session in body["results"]:
        assert set(session) == SESSION_SHAPE
        assert session["created_at"]
    mine, theirs = by_id[sid_of(current)], by_id[sid_of(elsewhere)]
    assert mine["current"] is True
    assert theirs["current"] is False
    assert mine["ip"] == "198.51.100.4"
    assert mine["user_agent"] == "Firefox/140"
    assert theirs["ip"] == "198.51.100.5"
    assert theirs["user_agent"] == "curl/8"


def test_sessions_omits_ended_sessions(member, client_for, committed):
    current, ended = client_for(member), client_for(member)
    with committed():
        assert ended.post(LOGOUT_URL).status_code == 204

    body = current.get(SESSIONS_URL).json()

    assert body["count"] == 1
    assert [session["id"] for session in body["results"]] == [sid_of(current)]


def test_sessions_anonymously_is_401(api_client):
    response = api_client.get(SESSIONS_URL)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_deleting_a_session_ends_it_and_its_tokens(api_client, member, client_for, committed):
    current, doomed = client_for(member), client_for(member)
    assert doomed.get(ME_URL).status_code == 200

    with committed():
        response = current.delete(f"{SESSIONS_URL}{sid_of(doomed)}/")

    assert response.status_code == 204, response.content
    session = UserSession.objects.get(pk=sid_of(doomed))
    assert session.ended_at is not None
    assert_error(doomed.get(ME_URL), 401, "authentication_failed")
    assert_error(post_refresh(api_client, doomed.tokens["refresh"]), 401, "authentication_failed")
    assert current.get(ME_URL).status_code == 200
    assert [s["id"] for s in current.get(SESSIONS_URL).json()["results"]] == [sid_of(current)]


def test_deleting_the_current_session_logs_out(member_client, committed):
    with committed():
        response = member_client.delete(f"{SESSIONS_URL}{sid_of(member_client)}/")

    assert response.status_code == 204, response.content
    assert_error(member_client.get(ME_URL), 401, "authentication_failed")


def test_deleting_another_users_session_is_404_and_leaves_it_live(
    member_client, other_member_client, committed
):
    with committed():
        response = member_client.delete(f"{SESSIONS_URL}{sid_of(other_member_client)}/")

    assert_error(response, 404, "not_found")
    assert UserSession.objects.get(pk=sid_of(other_member_client)).ended_at is None
    assert other_member_client.get(ME_URL).status_code == 200


def test_deleting_an_unknown_session_is_404(member_client):
    response = member_client.delete(f"{SESSIONS_URL}{uuid.uuid4()}/")

    assert_error(response, 404, "not_found")


def test_deleting_a_session_anonymously_is_401(api_client, member_client):
    response = api_client.delete(f"{SESSIONS_URL}{sid_of(member_client)}/")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert UserSession.objects.get(pk=sid_of(member_client)).ended_at is None
