"""Tokens an attacker might present; each is 401 in the error shape on users/me/."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from accounts.models import User, UserSession
from accounts.services import user_set_active
from tests.helpers import ME_URL, REFRESH_URL, assert_error, bearer_client, claims

pytestmark = pytest.mark.django_db


def sign(payload: dict, settings) -> str:
    return jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")


def b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_rejected(access: str) -> None:
    response = bearer_client(access).get(ME_URL)

    assert_error(response, 401, "authentication_failed")


def test_a_genuine_access_token_is_accepted(member, login):
    # The baseline: every attack below starts from a token like this one.
    response = bearer_client(login(member)["access"]).get(ME_URL)

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "Bearer", "x" * 2000],
)
def test_a_malformed_token_is_401(token):
    assert_rejected(token)


def test_a_token_signed_with_another_key_is_401(member, login):
    payload = claims(login(member)["access"])

    assert_rejected(jwt.encode(payload, "not-the-signing-key-" * 3, algorithm="HS256"))


def test_an_alg_none_token_is_401(member, login):
    payload = claims(login(member)["access"])
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."

    assert_rejected(token)


def test_an_alg_none_token_with_the_original_signature_is_401(member, login):
    access = login(member)["access"]
    _, body, signature = access.split(".")

    assert_rejected(f"{b64({'alg': 'none', 'typ': 'JWT'})}.{body}.{signature}")


def test_a_token_with_a_tampered_payload_is_401(member, other_member, login):
    access = login(member)["access"]
    header, _, signature = access.split(".")
    payload = {**claims(access), "user_id": other_member.pk}

    assert_rejected(f"{header}.{b64(payload)}.{signature}")


def test_an_expired_access_token_is_401(member, login, settings):
    payload = claims(login(member)["access"])
    payload["exp"] = int((datetime.now(UTC) - timedelta(seconds=30)).timestamp())

    assert_rejected(sign(payload, settings))


def test_a_refresh_token_used_as_access_is_401(member, login):
    assert_rejected(login(member)["refresh"])


def test_an_access_token_used_on_refresh_is_401(api_client, member, login):
    response = api_client.post(REFRESH_URL, {"refresh": login(member)["access"]}, format="json")

    assert_error(response, 401, "authentication_failed")


def test_a_token_of_a_user_deactivated_since_is_401(member, login, committed):
    access = login(member)["access"]
    assert bearer_client(access).get(ME_URL).status_code == 200

    with committed():
        user_set_active(user=member, is_active=False)

    assert_rejected(access)


def test_a_token_of_a_user_made_inactive_behind_the_services_back_is_401(member, login):
    # Even if the sessions were not ended (a raw update), an inactive user is refused.
    access = login(member)["access"]

    User.objects.filter(pk=member.pk).update(is_active=False)

    assert_rejected(access)


def test_a_token_of_a_deleted_user_is_401(member, login):
    access = login(member)["access"]

    User.objects.filter(pk=member.pk).delete()

    assert_rejected(access)


def test_a_token_of_an_ended_session_is_401(member, client_for, committed):
    survivor, ended = client_for(member), client_for(member)
    assert ended.get(ME_URL).status_code == 200
    sid = claims(ended.tokens["access"])["sid"]

    with committed():
        assert survivor.delete(f"/api/v1/auth/sessions/{sid}/").status_code == 204

    assert_rejected(ended.tokens["access"])


def test_a_well_signed_access_token_without_sid_is_401(member, login, settings):
    payload = claims(login(member)["access"])
    del payload["sid"]

    assert_rejected(sign(payload, settings))


def test_a_well_signed_access_token_naming_an_unknown_session_is_401(member, login, settings):
    payload = {**claims(login(member)["access"]), "sid": str(uuid.uuid4())}

    assert_rejected(sign(payload, settings))


def test_a_well_signed_access_token_naming_another_users_session_is_401(
    member, other_member, login, settings
):
    # The session must belong to the token's user, not merely exist.
    payload = {
        **claims(login(member)["access"]),
        "sid": claims(login(other_member)["access"])["sid"],
    }

    assert_rejected(sign(payload, settings))


def test_a_well_signed_access_token_with_a_garbage_sid_is_401(member, login, settings):
    payload = {**claims(login(member)["access"]), "sid": "not-a-uuid"}

    assert_rejected(sign(payload, settings))


def test_rejected_tokens_leave_the_session_live(member, login):
    tokens = login(member)
    assert_rejected(tokens["access"] + "x")

    session = UserSession.objects.get(pk=claims(tokens["access"])["sid"])
    assert session.ended_at is None
    assert bearer_client(tokens["access"]).get(ME_URL).status_code == 200
