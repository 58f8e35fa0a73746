"""The people's pages (accounts/pages.py): one Taskmanager login for the browsable API
and the live page, a logout that lands on our own "You are logged out" page, and a
registration page with the API's checks, CSRF and throttle. `next` stays on this site.
"""

import html
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import Role
from tests.factories import PASSWORD
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

LOGIN = "/login/"
LOGOUT = "/logout/"
LOGGED_OUT = "/logged-out/"
REGISTER = "/register/"
API_REGISTER = "/api/v1/auth/register/"
NEW_PASSWORD = "Quiet-Harbour-Lamp-77"
OUTSIDE_TARGETS = ["https://evil.example/", "//evil.example/steal", "javascript:alert(1)"]


def new_account(**extra: str) -> dict[str, str]:
    return {
        "username": "nora",
        "email": "nora@example.com",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
        **extra,
    }


def logged_in_as(client: Client) -> int | None:
    value = client.session.get(SESSION_KEY)
    return int(value) if value is not None else None


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


# --- login ------------------------------------------------------------------------------


def test_the_login_page_is_taskmanagers_and_offers_to_register_keeping_next(client):
    response = client.get(LOGIN, {"next": "/api/v1/tasks/"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Log in · Taskmanager</title>" in page
    assert "Django REST framework" not in page
    assert 'name="username"' in page and 'name="password"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'href="/register/?next=/api/v1/tasks/"' in page


def test_logging_in_follows_next_on_this_site(client, member):
    response = client.post(
        LOGIN, {"username": "mia", "password": PASSWORD, "next": "/api/v1/tasks/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/api/v1/tasks/"
    assert logged_in_as(client) == member.pk


def test_logging_in_without_next_opens_the_live_page(client, member):
    response = client.post(LOGIN, {"username": "mia@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/live/"
    assert client.get("/live/").status_code == 200


@pytest.mark.parametrize("target", OUTSIDE_TARGETS)
def test_logging_in_never_follows_next_off_the_site(client, member, target):
    response = client.post(LOGIN, {"username": "mia", "password": PASSWORD, "next": target})

    assert response.status_code == 302
    assert response["Location"] == "/live/"


def test_a_wrong_password_shows_the_form_again_with_why(client, member):
    response = client.post(LOGIN, {"username": "mia", "password": "Not-The-Password-1"})

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "Please enter a correct username and password" in text(response)
    assert logged_in_as(client) is None


def test_the_live_page_sends_anonymous_visitors_to_this_login(client):
    response = client.get("/live/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/live/"


def test_the_browsable_api_links_to_this_login_and_to_registration(client):
    response = client.get("/api/v1/tasks/", HTTP_ACCEPT="text/html")

    assert response.status_code == 401
    page = response.content.decode()
    assert "href='/login/?next=/api/v1/tasks/'" in page
    assert 'href="/register/?next=/api/v1/tasks/"' in page
    assert "Taskmanager API" in page
    assert "Django REST framework" not in page


def test_the_browsable_api_logs_out_through_this_logout(client, member):
    client.force_login(member)

    page = client.get("/api/v1/tasks/", HTTP_ACCEPT="text/html").content.decode()

    assert 'action="/logout/?next=/api/v1/tasks/"' in page


def test_the_live_page_logs_out_through_this_logout(client, member):
    client.force_login(member)

    page = client.get("/live/").content.decode()

    assert '<form method="post" action="/logout/">' in page


# --- logout -----------------------------------------------------------------------------


def test_logging_out_ends_the_session_and_lands_on_our_logged_out_page(client, member):
    client.force_login(member)

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert response["Location"] == LOGGED_OUT
    assert logged_in_as(client) is None
    page = client.get(LOGGED_OUT)
    assert page.status_code == 200
    content = page.content.decode()
    assert "You are logged out" in content
    assert '<a href="/login/">Log in again</a>' in content
    assert "Django site admin" not in content


def test_logging_out_carries_next_to_the_log_in_again_link(client, member):
    client.force_login(member)

    response = client.post(f"{LOGOUT}?next=/api/v1/tasks/")

    assert response["Location"] == f"{LOGGED_OUT}?next=%2Fapi%2Fv1%2Ftasks%2F"
    page = client.get(response["Location"]).content.decode()
    assert '<a href="/login/?next=/api/v1/tasks/">Log in again</a>' in page


@pytest.mark.parametrize("target", OUTSIDE_TARGETS)
def test_logging_out_drops_a_next_off_the_site(client, member, target):
    client.force_login(member)

    response = client.post(LOGOUT, {"next": target})

    assert response["Location"] == LOGGED_OUT
    assert "evil.example" not in client.get(f"{LOGGED_OUT}?next={quote(target)}").content.decode()


def test_opening_the_logout_page_asks_before_logging_out(client, member):
    client.force_login(member)

    response = client.get(LOGOUT)

    assert response.status_code == 200
    assert '<form method="post" action="/logout/">' in response.content.decode()
    assert logged_in_as(client) == member.pk


def test_anonymous_visitors_of_the_logout_page_see_they_are_logged_out(client):
    response = client.get(LOGOUT)

    assert response.status_code == 302
    assert response["Location"] == LOGGED_OUT


def test_logging_out_needs_the_csrf_token(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)

    response = client.post(LOGOUT)

    assert response.status_code == 403
    assert logged_in_as(client) == member.pk


def test_the_admin_keeps_its_own_login_and_logout(admin):
    client = Client()
    client.force_login(admin)

    logout = client.post("/admin/logout/")

    assert logout.status_code == 200
    assert "Log in again" in logout.content.decode()
    assert 'href="/admin/"' in logout.content.decode()
    anonymous = Client().get("/admin/")
    assert anonymous["Location"].startswith("/admin/login/")


# --- registration -----------------------------------------------------------------------


def test_the_registration_page_shows_the_form(client):
    response = client.get(REGISTER, {"next": "/api/v1/"})

    assert response.status_code == 200
    page = response.content.decode()
    for field in ("username", "email", "password", "password_again", "csrfmiddlewaretoken"):
        assert f'name="{field}"' in page, field
    assert '<input type="hidden" name="next" value="/api/v1/">' in page
    assert 'href="/login/?next=/api/v1/"' in page


def test_registering_creates_a_member_logs_them_in_and_opens_the_live_page(client):
    response = client.post(REGISTER, new_account())

    assert response.status_code == 302
    assert response["Location"] == "/live/"
    user = User.objects.get(username="nora")
    assert user.email == "nora@example.com"
    assert user.check_password(NEW_PASSWORD)
    assert user.role == Role.MEMBER
    assert logged_in_as(client) == user.pk
    assert client.get("/live/").status_code == 200


def test_registering_follows_next_on_this_site(client):
    response = client.post(f"{REGISTER}?next=/api/v1/tasks/", new_account())

    assert response["Location"] == "/api/v1/tasks/"


@pytest.mark.parametrize("target", OUTSIDE_TARGETS)
def test_registering_never_follows_next_off_the_site(client, target):
    response = client.post(REGISTER, new_account(next=target))

    assert response["Location"] == "/live/"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "nora", "email": "nora@example.com", "password": "password"},
        {"username": "nora", "email": "nora@example.com", "password": "12345678901"},
        {
            "username": "marigoldfields",
            "email": "nora@example.com",
            "password": "marigoldfields1",
        },
        {"username": "no ra", "email": "nora@example.com", "password": NEW_PASSWORD},
        {"username": "nora", "email": "not-an-email", "password": NEW_PASSWORD},
        {"username": "", "email": "", "password": ""},
        {"username": "MIA", "email": "nora@example.com", "password": NEW_PASSWORD},
        {"username": "nora", "email": "Mia@Example.com", "password": NEW_PASSWORD},
        {"username": "mia@example.com", "email": "nora@example.com", "password": NEW_PASSWORD},
    ],
    ids=[
        "common password",
        "digits only",
        "like the username",
        "invalid username",
        "invalid email",
        "blank",
        "username taken",
        "email taken",
        "username is someone's email",
    ],
)
def test_the_page_refuses_what_the_api_refuses_with_the_same_messages(client, member, body):
    api = assert_error(APIClient().post(API_REGISTER, body, format="json"), 400, "validation_error")

    response = client.post(REGISTER, {**body, "password_again": body["password"]})

    assert response.status_code == 200
    page = text(response)
    for field, messages in api["fields"].items():
        for message in messages:
            assert message in page, (field, message)
    assert list(User.objects.all()) == [member]
    assert logged_in_as(client) is None


def test_two_different_passwords_are_refused(client):
    response = client.post(REGISTER, new_account(password_again="Quiet-Harbour-Lamp-78"))

    assert response.status_code == 200
    assert "The two passwords differ." in text(response)
    assert not User.objects.filter(username="nora").exists()


def test_registering_needs_the_csrf_token():
    response = Client(enforce_csrf_checks=True).post(REGISTER, new_account())

    assert response.status_code == 403
    assert not User.objects.filter(username="nora").exists()


def test_the_page_and_the_api_share_one_registration_count_per_address(client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "2/min"}
    ip = "192.0.2.30"
    api = APIClient().post(
        API_REGISTER,
        {"username": "first", "email": "first@example.com", "password": NEW_PASSWORD},
        format="json",
        REMOTE_ADDR=ip,
    )
    assert api.status_code == 201, api.content
    second = Client().post(REGISTER, new_account(username="second", email="s@example.com"))
    assert second.status_code == 302  # another address: its own count
    assert Client().post(REGISTER, new_account(), REMOTE_ADDR=ip).status_code == 302

    refused = client.post(
        REGISTER, new_account(username="third", email="third@example.com"), REMOTE_ADDR=ip
    )

    assert refused.status_code == 429
    wait = refused["Retry-After"]
    assert wait.isdigit() and 1 <= int(wait) <= 60
    assert f"Too many registrations from your address. Try again in {wait} seconds." in text(
        refused
    )
    assert not User.objects.filter(username="third").exists()
    assert_error(
        APIClient().post(
            API_REGISTER,
            {"username": "fourth", "email": "fourth@example.com", "password": NEW_PASSWORD},
            format="json",
            REMOTE_ADDR=ip,
        ),
        429,
        "throttled",
    )
