"""Access tokens are verified once per process; expiry and revocation still apply."""

import time
from typing import Any

import jwt
import pytest
from rest_framework_simplejwt.backends import TokenBackend

from accounts import authentication
from tests.helpers import ME_URL, assert_error, bearer_client, claims

pytestmark = pytest.mark.django_db


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token SimpleJWT decodes (and so verifies)."""
    seen: list[str] = []
    original = TokenBackend.decode

    def spy(self: TokenBackend, token: Any, verify: bool = True) -> Any:
        seen.append(token)
        return original(self, token, verify)

    monkeypatch.setattr(TokenBackend, "decode", spy)
    return seen


def test_a_token_is_verified_once_then_recognised(member, login, decodes):
    access = login(member)["access"]
    client = bearer_client(access)

    assert client.get(ME_URL).status_code == 200
    assert client.get(ME_URL).status_code == 200
    assert client.get(ME_URL).status_code == 200

    assert decodes.count(access.encode()) + decodes.count(access) == 1


def test_a_verified_token_is_refused_once_it_expires(member, login, settings):
    # The session's own claims, expiring at the start of the next second but one.
    payload = claims(login(member)["access"])
    payload["exp"] = int(time.time()) + 2
    access = jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    client = bearer_client(access)
    assert client.get(ME_URL).status_code == 200
    assert access.encode() in authentication._verified

    time.sleep(max(0.0, payload["exp"] - time.time()) + 0.01)
    response = client.get(ME_URL)

    assert_error(response, 401, "authentication_failed")


def test_a_verified_token_of_an_ended_session_is_refused(member, login):
    tokens = login(member)
    client = bearer_client(tokens["access"])
    assert client.get(ME_URL).status_code == 200

    assert client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204

    error = assert_error(client.get(ME_URL), 401, "authentication_failed")
    assert error["message"] == authentication.SESSION_ENDED


def test_a_token_differing_only_in_its_signature_is_not_recognised(member, login):
    access = login(member)["access"]
    assert bearer_client(access).get(ME_URL).status_code == 200
    head, payload, signature = access.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    assert_error(bearer_client(forged).get(ME_URL), 401, "authentication_failed")


def test_the_process_keeps_a_bounded_number(member, login, monkeypatch):
    monkeypatch.setattr(authentication, "VERIFIED_TOKENS_MAX", 3)
    monkeypatch.setattr(authentication, "_verified", {})
    for _ in range(5):
        assert bearer_client(login(member)["access"]).get(ME_URL).status_code == 200
        assert 1 <= len(authentication._verified) <= 3
