"""Which requests each throttle of the accounts endpoints counts together.

The login throttle counts per account (and client IP) whichever way the body names
it; the profile's current-password check counts per user at the login rate; every
other endpoint counts `read`/`write` per user, or per client IP when anonymous.
"""

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.throttles import _account_name
from tests.factories import PASSWORD, UserFactory
from tests.helpers import LOGIN_URL, ME_URL, assert_error

pytestmark = pytest.mark.django_db

RATE = 3
WRONG = "Not-The-Password-1"
NEW_PASSWORD = "Another-Copper-Lantern-43"


@pytest.fixture
def small_login_rate(settings: Any) -> None:
    """Only the per-account login count can refuse."""
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "login": f"{RATE}/min",
        "login_ip": "1000/min",
        "read": "1000/min",
        "write": "1000/min",
    }


def attempt(body: dict[str, Any]) -> Any:
    return APIClient().post(LOGIN_URL, body, format="json")


def assert_throttled(response: Any) -> None:
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


# --- login: one identity per account ------------------------------------------------


def test_attempts_naming_the_email_count_on_that_account_whatever_the_username_says(
    member, small_login_rate
):
    # A body with both names is refused, and still counted: on the email's account,
    # so that no made-up username gets a fresh count.
    for n in range(RATE):
        answer = attempt({"username": f"nobody{n}", "email": "mia@example.com", "password": WRONG})
        assert_error(answer, 400, "validation_error")

    assert_throttled(attempt({"username": "mia", "password": PASSWORD}))


def test_a_numeric_username_is_refused_and_still_counted_as_its_text(db, small_login_rate):
    # A JSON number is no username (a 400), yet the throttle, which reads the body
    # before it is validated, counts it on the account its digits name.
    UserFactory(username="12345", email="digits@example.com")
    for _ in range(RATE):
        answer = attempt({"username": 12345, "password": WRONG})
        assert assert_error(answer, 400, "validation_error")["fields"] == {
            "username": ["Must be a string."]
        }

    assert_throttled(attempt({"username": "12345", "password": PASSWORD}))


def test_a_username_with_an_at_sign_counts_on_its_own_account_not_on_the_emails(
    db, small_login_rate
):
    # The backend tries a name as a username first: "ann@example.org" is Ann's
    # account, even though it is also Bob's email (a database from before usernames
    # and emails were one namespace may hold both).
    UserFactory(username="ann@example.org", email="ann@work.example")
    bob = UserFactory(username="bob", email="bob@example.org")
    User.objects.filter(pk=bob.pk).update(email="ann@example.org")
    spellings = ["ann@example.org", "ANN@work.example", "Ann@Example.org"]
    for name in spellings:
        assert_error(attempt({"username": name, "password": WRONG}), 401, "authentication_failed")

    assert_throttled(attempt({"username": "ann@example.org", "password": PASSWORD}))
    # Bob's count is his own.
    assert attempt({"username": "bob", "password": PASSWORD}).status_code == 200


def test_only_a_name_that_can_be_an_email_costs_a_query(member, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert _account_name("username", "mia") == "mia"
    with django_assert_num_queries(1):
        assert _account_name("username", "mia@example.com") == "mia"
    with django_assert_num_queries(1):
        assert _account_name("email", "nobody@example.com") == "nobody@example.com"


# --- the profile's current-password check -------------------------------------------


def change_password(client: Any, current: str) -> Any:
    body = {"password": NEW_PASSWORD, "current_password": current}
    return client.patch(ME_URL, body, format="json")


def test_current_password_checks_count_per_user_at_the_login_rate(
    member, client_for, other_member_client, small_login_rate
):
    # Logged in from elsewhere: a login from this address would count with the checks.
    member_client = client_for(member, REMOTE_ADDR="198.51.100.1")
    answers = [change_password(member_client, f"guess-{n}").status_code for n in range(RATE)]

    refused = change_password(member_client, PASSWORD)

    assert answers == [400] * RATE
    assert_throttled(refused)
    member.refresh_from_db()
    assert member.check_password(PASSWORD), "the refused request changed nothing"
    # Other profile changes and reads are not held up by it, nor is another user.
    assert member_client.get(ME_URL).status_code == 200
    email = member_client.patch(ME_URL, {"email": "mia.new@example.com"}, format="json")
    assert email.status_code == 200, email.content
    assert change_password(other_member_client, "guess").status_code == 400


def test_current_password_checks_count_on_every_session_of_the_user(
    member, client_for, small_login_rate
):
    # A new login (a fresh token, from another address) does not buy more guesses.
    clients = [client_for(member, REMOTE_ADDR=f"10.0.0.{n}") for n in range(RATE + 1)]
    for n, client in enumerate(clients[:RATE]):
        assert change_password(client, f"guess-{n}").status_code == 400

    assert_throttled(change_password(clients[RATE], PASSWORD))


# --- the other accounts endpoints: read / write -------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", ME_URL, "read"),
        ("get", "/api/v1/auth/sessions/", "read"),
        ("patch", ME_URL, "write"),
    ],
)
def test_profile_and_sessions_are_counted_per_user(
    method, path, scope, member_client, other_member_client, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, scope: f"{RATE}/min"}

    def send(client: Any) -> Any:
        return getattr(client, method)(path, {}, format="json")

    answers = [send(member_client).status_code for _ in range(RATE)]

    refused = send(member_client)

    assert answers == [200] * RATE
    assert_throttled(refused)
    assert send(other_member_client).status_code == 200


@pytest.mark.parametrize("name", ["mia\x00@example.com", "a" * 300 + "@example.com"])
@pytest.mark.parametrize("field", ["username", "email"])
def test_a_name_no_account_can_have_is_counted_without_a_query(
    api_client, member, field, name, django_assert_num_queries
):
    with django_assert_num_queries(0):
        assert _account_name(field, name) == name
    response = api_client.post(LOGIN_URL, {field: name, "password": PASSWORD}, format="json")
    assert response.status_code in (400, 401), response.content
