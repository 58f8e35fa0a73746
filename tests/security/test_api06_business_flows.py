"""API6:2023 Unrestricted Access to Sensitive Business Flows.

The flows worth automating for an attacker are account creation and password
guessing. Registrations are counted per client IP; login attempts per account and
IP and per IP (password spraying); a forged `X-Forwarded-For`, another spelling of
the username, or another door to the same password check (the token endpoint, the
email, the profile's current-password check) does not buy more attempts.
"""

from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import PASSWORD
from tests.helpers import LOGIN_URL, ME_URL, assert_error, assert_field_error

REGISTER_URL = "/api/v1/auth/register/"
TOKEN_URL = "/api/v1/auth/token/"
RATE = 5
WRONG = "wrong-guess-1"


@pytest.fixture
def small_rates(settings: Any) -> None:
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "login": f"{RATE}/min",
        "login_ip": f"{RATE}/min",
    }


def register(n: int, **extra: Any) -> Any:
    body = {"username": f"bot{n}", "email": f"bot{n}@example.com", "password": PASSWORD}
    return APIClient().post(REGISTER_URL, body, format="json", **extra)


def test_registrations_from_one_address_are_throttled(small_rates, db):
    answers = [register(n).status_code for n in range(RATE)]
    refused = register(RATE)

    assert answers == [201] * RATE
    assert_error(refused, 429, "throttled")
    assert refused["Retry-After"]
    assert not User.objects.filter(username=f"bot{RATE}").exists()
    # Another address is not held up by this one.
    assert register(RATE + 1, REMOTE_ADDR="10.9.8.7").status_code == 201


def test_a_forged_forwarded_for_does_not_reset_the_count(small_rates, db):
    for n in range(RATE):
        register(n, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    refused = register(RATE, HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert_error(refused, 429, "throttled")


@pytest.mark.parametrize(
    "twin", [{"username": "MIA"}, {"username": "Mia"}, {"email": "MIA@Example.com"}]
)
def test_an_account_cannot_be_registered_twice_in_another_case(twin, member):
    body = {"username": "mia2", "email": "mia2@example.com", "password": PASSWORD, **twin}

    response = APIClient().post(REGISTER_URL, body, format="json")

    assert_field_error(response, next(iter(twin)))
    assert User.objects.filter(email__iexact="mia@example.com").count() == 1


def login_attempt(username: str, password: str = WRONG, **extra: Any) -> Any:
    body = {"username": username, "password": password}
    return APIClient().post(LOGIN_URL, body, format="json", **extra)


def test_spraying_one_password_over_many_accounts_is_throttled_per_address(small_rates, db):
    answers = [login_attempt(f"user{n}", PASSWORD).status_code for n in range(RATE)]

    refused = login_attempt("someone-else", PASSWORD)

    assert answers == [401] * RATE
    assert_error(refused, 429, "throttled")


@pytest.mark.parametrize(
    "spellings",
    [
        ["mia", "MIA", "Mia", " mia", "mia "],
        ["mia", "mia@example.com", "MIA@EXAMPLE.COM", "mia", "mia@example.com"],
    ],
    ids=["case-and-spaces", "username-and-email"],
)
def test_guesses_at_one_account_count_together_however_it_is_named(
    spellings, member, small_rates, settings
):
    # The per-address limit is lifted so that only the per-account one can refuse.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "1000/min"}
    answers = [login_attempt(name).status_code for name in spellings]

    refused = login_attempt("mia", PASSWORD)

    assert answers == [401] * RATE
    assert_error(refused, 429, "throttled")


def test_the_token_endpoint_shares_the_login_count(member, small_rates, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "1000/min"}
    for n in range(RATE):
        login_attempt("mia", f"wrong-{n}")

    refused = APIClient().post(
        TOKEN_URL,
        urlencode({"grant_type": "password", "username": "mia", "password": PASSWORD}),
        content_type="application/x-www-form-urlencoded",
    )

    assert_error(refused, 429, "throttled")


def test_guessing_the_current_password_through_the_profile_is_throttled(
    client_for, member, settings
):
    # A stolen access token must not turn the profile's password check into an
    # unthrottled guessing oracle (every answer says whether the guess was right).
    # The token is from a login elsewhere: one from here would count with the guesses.
    member_client = client_for(member, REMOTE_ADDR="198.51.100.1")
    settings.THROTTLE_RATES = dict.fromkeys(("read", "write", "login", "login_ip"), f"{RATE}/min")
    body = {"password": "Another-Copper-Lantern-43"}
    answers = [
        member_client.patch(ME_URL, {**body, "current_password": f"guess-{n}"}, format="json")
        for n in range(RATE)
    ]

    refused = member_client.patch(ME_URL, {**body, "current_password": PASSWORD}, format="json")

    assert [a.status_code for a in answers] == [400] * RATE
    assert_error(refused, 429, "throttled")
    assert User.objects.get(pk=member.pk).check_password(PASSWORD)
