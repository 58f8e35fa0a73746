"""API2:2023 Broken Authentication.

Every operation of the schema that needs credentials refuses anonymous callers and
every forged, stale or misused token (401 in the error shape, `WWW-Authenticate:
Bearer`), and so does the WebSocket; password guessing is throttled; a replayed
refresh token ends its session; every way of ending a session revokes its access
token on the very next request; a session cookie does not bypass CSRF.
"""

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.models import User, UserSession
from tests.factories import PASSWORD
from tests.helpers import LOGIN_URL, ME_URL, REFRESH_URL, bearer_client, claims
from tests.realtime.sockets import assert_closed_unauthorized, send, socket
from tests.security.helpers import fill, needs_authentication, operations

TOKEN_URL = "/api/v1/auth/token/"
FORM = "application/x-www-form-urlencoded"

ATTACKS: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {}


def attack(function: Callable[[dict[str, Any], dict[str, Any]], str]) -> Any:
    """Registers a forged token, built from the member's and Otto's genuine tokens."""
    ATTACKS[function.__name__] = function
    return function


def sign(payload: dict[str, Any], key: str | None = None) -> str:
    return jwt.encode(payload, key or django_settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@attack
def garbage(mine: dict, others: dict) -> str:
    return "not-a-token"


@attack
def oversized(mine: dict, others: dict) -> str:
    return "x" * 3000


@attack
def alg_none(mine: dict, others: dict) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(mine['access']))}."


@attack
def alg_none_keeping_the_signature(mine: dict, others: dict) -> str:
    _, payload, signature = mine["access"].split(".")
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}"


@attack
def another_key(mine: dict, others: dict) -> str:
    return sign(claims(mine["access"]), "an-attacker-key-" * 4)


@attack
def payload_swapped_to_another_user(mine: dict, others: dict) -> str:
    header, _, signature = mine["access"].split(".")
    payload = {**claims(mine["access"]), "user_id": claims(others["access"])["user_id"]}
    return f"{header}.{b64(payload)}.{signature}"


@attack
def expired(mine: dict, others: dict) -> str:
    past = datetime.now(UTC) - timedelta(minutes=1)
    return sign({**claims(mine["access"]), "exp": int(past.timestamp())})


@attack
def refresh_as_access(mine: dict, others: dict) -> str:
    return mine["refresh"]


@attack
def without_session(mine: dict, others: dict) -> str:
    payload = claims(mine["access"])
    del payload["sid"]
    return sign(payload)


@attack
def unknown_session(mine: dict, others: dict) -> str:
    return sign({**claims(mine["access"]), "sid": str(uuid.uuid4())})


@attack
def another_users_session(mine: dict, others: dict) -> str:
    return sign({**claims(mine["access"]), "sid": claims(others["access"])["sid"]})


@attack
def user_id_as_text(mine: dict, others: dict) -> str:
    payload = claims(mine["access"])
    return sign({**payload, "user_id": str(payload["user_id"])})


@attack
def missing_token_type(mine: dict, others: dict) -> str:
    payload = claims(mine["access"])
    del payload["token_type"]
    return sign(payload)


@pytest.fixture
def tokens(member: User, other_member: User, login: Any) -> tuple[dict, dict]:
    return login(member), login(other_member)


@pytest.fixture
def paths(task: Any, login: Any, member: User) -> dict[str, Any]:
    """Real ids for the path parameters, so a 401 cannot be a 404 in disguise."""
    return {"task": task.pk, "session": claims(login(member)["access"])["sid"]}


def protected_operations() -> list[tuple[str, str]]:
    return [(path, method) for path, method, op in operations() if needs_authentication(op)]


def request(client: APIClient, path: str, method: str, paths: dict[str, Any]) -> Any:
    value = paths["session"] if "sessions" in path else paths["task"]
    return getattr(client, method)(fill(path, value), {}, format="json")


def assert_refused(response: Any, code: str) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_schema_lists_operations_that_need_credentials():
    # The enumeration below is only as good as this list.
    assert len(protected_operations()) >= 15
    assert ("/api/v1/tasks/{id}/", "delete") in protected_operations()


@pytest.mark.parametrize(("path", "method"), protected_operations())
def test_every_protected_operation_refuses_anonymous_callers(path, method, paths):
    assert_refused(request(APIClient(), path, method, paths), "not_authenticated")


@pytest.mark.parametrize(("path", "method"), protected_operations())
def test_every_protected_operation_refuses_every_forged_token(path, method, paths, tokens):
    mine, others = tokens
    for name, forge in ATTACKS.items():
        response = request(bearer_client(forge(mine, others)), path, method, paths)
        assert response.status_code == 401, (name, response.content)
        assert response.json()["error"]["code"] == "authentication_failed", name


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(f"mia:{PASSWORD}".encode()).decode(),
        "Token {access}",
        "Bearer",
        "Bearer {access} extra",
        "bearer{access}",
    ],
)
def test_credentials_in_other_schemes_or_shapes_are_not_accepted(header, tokens):
    mine, _ = tokens
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(access=mine["access"]))

    response = client.get(ME_URL)

    assert response.status_code == 401, response.content


def test_an_access_token_in_the_query_string_is_not_accepted_over_http(tokens):
    # Only the WebSocket takes ?token= (as a last resort, redacted from logs).
    response = APIClient().get(ME_URL, {"token": tokens[0]["access"]})

    assert_refused(response, "not_authenticated")


def test_a_genuine_token_passes_the_same_checks(tokens, member):
    # The positive control of the attacks above.
    response = bearer_client(tokens[0]["access"]).get(ME_URL)

    assert response.status_code == 200
    assert response.json()["id"] == member.pk


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("via", ["header", "auth_message"])
async def test_the_socket_refuses_every_forged_token(name, via, tokens):
    forged = ATTACKS[name](*tokens)
    if via == "header":
        communicator = socket(token=forged)
        accepted, _ = await communicator.connect()
    else:
        communicator = socket()
        accepted, _ = await communicator.connect()
        await send(communicator, {"type": "auth", "token": forged})
    assert accepted
    await assert_closed_unauthorized(communicator)
    await communicator.disconnect()


# --- brute force ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "form"),
    [
        (LOGIN_URL, {"username": "mia"}, False),
        (LOGIN_URL, {"email": "mia@example.com"}, False),
        (TOKEN_URL, {"grant_type": "password", "username": "mia"}, True),
    ],
)
def test_password_guessing_is_throttled_and_then_even_the_right_password_waits(
    url, body, form, member, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "5/min"}
    client = APIClient()
    post = (
        (lambda data: client.post(url, urlencode(data), content_type=FORM))
        if form
        else (lambda data: client.post(url, data, format="json"))
    )

    answers = [post({**body, "password": f"guess-{n}"}).status_code for n in range(5)]
    refused = post({**body, "password": PASSWORD})

    assert answers == [401] * 5
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "access" not in refused.json()


def test_unknown_user_wrong_password_and_inactive_user_answer_alike(member, other_member):
    User.objects.filter(pk=other_member.pk).update(is_active=False)
    client = APIClient()

    answers = [
        client.post(LOGIN_URL, {"username": name, "password": password}, format="json")
        for name, password in [
            ("mia", "wrong-password-1"),
            ("nobody", PASSWORD),
            ("otto", PASSWORD),
        ]
    ]

    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1


# --- replay and revocation -------------------------------------------------------------


def test_a_replayed_refresh_token_ends_the_session(member, login, committed):
    first = login(member)
    client = APIClient()
    with committed():
        rotated = client.post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200

    with committed():
        replayed = client.post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")

    assert replayed.status_code == 401
    # The whole session is over: the pair the legitimate client just got is dead too.
    assert bearer_client(rotated.json()["access"]).get(ME_URL).status_code == 401
    again = client.post(REFRESH_URL, {"refresh": rotated.json()["refresh"]}, format="json")
    assert again.status_code == 401
    assert UserSession.objects.get(pk=claims(first["access"])["sid"]).ended_at is not None


def end_by_logout(victim: Any, **_: Any) -> Any:
    return victim.post("/api/v1/auth/logout/")


def end_by_logout_all(victim: Any, **_: Any) -> Any:
    return victim.post("/api/v1/auth/logout-all/")


def end_by_session_delete(victim: Any, other: Any, **_: Any) -> Any:
    return other.delete(f"/api/v1/auth/sessions/{claims(victim.tokens['access'])['sid']}/")


def end_by_password_change(victim: Any, other: Any, **_: Any) -> Any:
    body = {"password": "Another-Copper-Lantern-43", "current_password": PASSWORD}
    return other.patch(ME_URL, body, format="json")


def end_by_deactivation(victim: Any, admin_client: Any, member: User, **_: Any) -> Any:
    return admin_client.patch(f"/api/v1/users/{member.pk}/", {"is_active": False}, format="json")


def end_by_demotion_is_not_an_end(victim: Any, admin_client: Any, member: User, **_: Any) -> Any:
    return admin_client.patch(f"/api/v1/users/{member.pk}/", {"role": "member"}, format="json")


@pytest.mark.parametrize(
    "end",
    [
        end_by_logout,
        end_by_logout_all,
        end_by_session_delete,
        end_by_password_change,
        end_by_deactivation,
    ],
)
def test_every_way_of_ending_a_session_revokes_its_access_token_at_once(
    end, member, client_for, admin_client, committed
):
    victim, other = client_for(member), client_for(member)
    assert victim.get("/api/v1/tasks/").status_code == 200

    with committed():
        response = end(victim=victim, other=other, admin_client=admin_client, member=member)
    assert response.status_code in (200, 204), response.content

    for path in ("/api/v1/tasks/", ME_URL, "/api/v1/auth/sessions/"):
        assert_refused(victim.get(path), "authentication_failed")
    refreshed = APIClient().post(REFRESH_URL, {"refresh": victim.tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401


def test_a_role_change_alone_leaves_sessions_live(member, client_for, admin_client, committed):
    # The control for the test above: not every change to a user ends their sessions.
    victim = client_for(member)
    with committed():
        end_by_demotion_is_not_an_end(victim, admin_client=admin_client, member=member)

    assert victim.get(ME_URL).status_code == 200


def test_a_password_change_needs_the_current_password(member_client, member):
    # A stolen access token alone cannot take the account over.
    response = member_client.patch(ME_URL, {"password": "Another-Copper-Lantern-43"}, format="json")

    assert response.status_code == 400
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_a_session_cookie_does_not_bypass_csrf(member):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.get("/api/v1/tasks/").status_code == 200

    response = client.post("/api/v1/tasks/", {"title": "Forged from another site"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_token_responses_are_not_cached(member):
    response = APIClient().post(LOGIN_URL, {"username": "mia", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
