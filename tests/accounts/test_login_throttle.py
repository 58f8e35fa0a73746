"""Login, token and register are throttled per username+IP ("login") and per IP."""

from urllib.parse import urlencode

import pytest

from accounts.models import User, UserSession
from tests.factories import PASSWORD
from tests.helpers import LOGIN_URL, REFRESH_URL, assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
REGISTER_URL = "/api/v1/auth/register/"
WRONG = "Not-The-Password-1"


def post_login(api_client, username, password, ip="192.0.2.10"):
    return api_client.post(
        LOGIN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def assert_throttled(response) -> int:
    assert_error(response, 429, "throttled")
    retry_after = response["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    return int(retry_after)


def test_sixth_login_for_one_username_from_one_ip_is_429_even_with_the_right_password(
    api_client, member
):
    for _ in range(5):
        assert_error(post_login(api_client, "mia", WRONG), 401, "authentication_failed")

    response = post_login(api_client, "mia", PASSWORD)

    assert_throttled(response)
    assert not UserSession.objects.exists()


def test_five_logins_within_the_limit_all_succeed(api_client, member):
    for _ in range(5):
        assert post_login(api_client, "mia", PASSWORD).status_code == 200

    assert_throttled(post_login(api_client, "mia", PASSWORD))


def test_another_username_from_the_same_ip_is_not_blocked_by_the_per_username_limit(
    api_client, member, other_member
):
    for _ in range(5):
        post_login(api_client, "mia", WRONG)
    assert_throttled(post_login(api_client, "mia", PASSWORD))

    response = post_login(api_client, "otto", PASSWORD)

    assert response.status_code == 200, response.content


def test_the_same_username_from_another_ip_is_not_blocked_by_the_per_username_limit(
    api_client, member
):
    for _ in range(5):
        post_login(api_client, "mia", WRONG, ip="192.0.2.10")
    assert_throttled(post_login(api_client, "mia", PASSWORD, ip="192.0.2.10"))

    response = post_login(api_client, "mia", PASSWORD, ip="192.0.2.99")

    assert response.status_code == 200, response.content


def test_changing_the_case_of_the_username_does_not_escape_the_limit(api_client, member):
    # Logins are case-insensitive, so "Mia" and "mia" are one account to guess at.
    for username in ["mia", "MIA", "Mia", "mIa", "miA"]:
        assert_error(post_login(api_client, username, WRONG), 401, "authentication_failed")

    assert_throttled(post_login(api_client, "MiA", PASSWORD))


def test_a_forged_x_forwarded_for_does_not_escape_the_limit(api_client, member):
    # No trusted proxy by default: the client IP is REMOTE_ADDR, whatever the header says.
    for n in range(5):
        response = api_client.post(
            LOGIN_URL,
            {"username": "mia", "password": WRONG},
            format="json",
            REMOTE_ADDR="192.0.2.10",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
        assert_error(response, 401, "authentication_failed")

    response = api_client.post(
        LOGIN_URL,
        {"username": "mia", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="192.0.2.10",
        HTTP_X_FORWARDED_FOR="203.0.113.200",
    )

    assert_throttled(response)


def test_the_per_ip_limit_blocks_any_username(api_client, member, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "3/min"}
    for username in ["guess1", "guess2", "guess3"]:
        assert_error(post_login(api_client, username, WRONG), 401, "authentication_failed")

    response = post_login(api_client, "mia", PASSWORD)

    assert_throttled(response)
    assert not UserSession.objects.exists()


def test_the_per_ip_limit_does_not_block_another_ip(api_client, member, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "3/min"}
    for username in ["guess1", "guess2", "guess3"]:
        post_login(api_client, username, WRONG, ip="192.0.2.10")
    assert_throttled(post_login(api_client, "mia", PASSWORD, ip="192.0.2.10"))

    response = post_login(api_client, "mia", PASSWORD, ip="192.0.2.11")

    assert response.status_code == 200, response.content


def test_the_login_rate_is_read_at_request_time(api_client, member, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "2/min"}
    for _ in range(2):
        assert post_login(api_client, "mia", PASSWORD).status_code == 200

    assert_throttled(post_login(api_client, "mia", PASSWORD))


def test_sixth_password_grant_for_one_username_is_429(api_client, member):
    def grant(password):
        return api_client.post(
            TOKEN_URL,
            urlencode({"grant_type": "password", "username": "mia", "password": password}),
            content_type="application/x-www-form-urlencoded",
        )

    for _ in range(5):
        assert_error(grant(WRONG), 401, "authentication_failed")

    assert_throttled(grant(PASSWORD))
    assert not UserSession.objects.exists()


def test_registration_is_throttled_per_ip_at_the_login_rate(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "2/min"}

    def register(n, ip="192.0.2.10"):
        return api_client.post(
            REGISTER_URL,
            {"username": f"new{n}", "email": f"new{n}@example.com", "password": PASSWORD},
            format="json",
            REMOTE_ADDR=ip,
        )

    assert register(1).status_code == 201
    assert register(2).status_code == 201

    assert_throttled(register(3))
    assert not User.objects.filter(username="new3").exists()
    assert register(4, ip="192.0.2.11").status_code == 201


def test_refreshes_are_counted_per_ip_at_their_own_rate(api_client, member, login, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "refresh": "3/min", "write": "1/min"}
    refresh = login(member)["refresh"]
    for _ in range(3):
        response = api_client.post(
            REFRESH_URL, {"refresh": refresh}, format="json", REMOTE_ADDR="192.0.2.20"
        )
        assert response.status_code == 200, response.content  # not held to the write rate
        refresh = response.json()["refresh"]

    fourth = api_client.post(
        REFRESH_URL, {"refresh": refresh}, format="json", REMOTE_ADDR="192.0.2.20"
    )
    assert_throttled(fourth)
    elsewhere = api_client.post(
        REFRESH_URL, {"refresh": refresh}, format="json", REMOTE_ADDR="192.0.2.21"
    )
    assert elsewhere.status_code == 200, elsewhere.content  # the throttled one changed nothing
