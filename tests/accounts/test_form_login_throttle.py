"""Every door that checks a password counts in the same login windows.

The admin's login form, the browsable API's login form, the JSON login, the OAuth2
token endpoint and the profile's current-password check: guesses through any of them
add up per account and client IP ("login") and per client IP ("login_ip"), and once
over, each door answers 429 with Retry-After, the right password included.
"""

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from rest_framework.test import APIClient

import taskmanager.throttles
from accounts.backends import UsernameOrEmailBackend
from accounts.models import User, UserSession
from accounts.services import session_start
from tests.factories import PASSWORD, UserFactory
from tests.helpers import LOGIN_URL, ME_URL, assert_error, bearer_client

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
API_AUTH_LOGIN = "/login/"
TOKEN_URL = "/api/v1/auth/token/"
RATE = 3
IP = "192.0.2.10"
WRONG = "Not-The-Password-1"
NEW_PASSWORD = "Another-Copper-Lantern-43"


@pytest.fixture
def small_login_rate(settings: Any) -> None:
    """The per-account count refuses first; reads and writes never do."""
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "login": f"{RATE}/min",
        "login_ip": "1000/min",
        "read": "1000/min",
        "write": "1000/min",
    }


@pytest.fixture
def root(db: None) -> User:
    return UserFactory(username="root", email="root@example.com", superuser=True)


# --- the doors ------------------------------------------------------------------------


def admin_form(name: str, password: str, ip: str = IP, **extra: str) -> Any:
    return Client().post(
        ADMIN_LOGIN,
        {"username": name, "password": password, "next": "/admin/", **extra},
        REMOTE_ADDR=ip,
    )


def api_auth_form(name: str, password: str, ip: str = IP, **extra: str) -> Any:
    return Client().post(
        API_AUTH_LOGIN,
        {"username": name, "password": password, "next": "/api/v1/", **extra},
        REMOTE_ADDR=ip,
    )


def json_login(name: str, password: str, ip: str = IP) -> Any:
    return APIClient().post(
        LOGIN_URL, {"username": name, "password": password}, format="json", REMOTE_ADDR=ip
    )


def token_grant(name: str, password: str, ip: str = IP) -> Any:
    body = {"grant_type": "password", "username": name, "password": password}
    return APIClient().post(
        TOKEN_URL,
        urlencode(body),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=ip,
    )


def profile_check(name: str, password: str, ip: str = IP) -> Any:
    # A token of a session started without a login, so that only the check counts.
    user = User.objects.get(username=name)
    tokens = session_start(user=user, ip="198.51.100.1", user_agent="test")
    body = {"password": NEW_PASSWORD, "current_password": password}
    return bearer_client(tokens.access).patch(ME_URL, body, format="json", REMOTE_ADDR=ip)


Door = Callable[..., Any]
LOGIN_DOORS: dict[str, Door] = {
    "admin form": admin_form,
    "browsable API form": api_auth_form,
    "JSON login": json_login,
    "token grant": token_grant,
}
DOORS: dict[str, Door] = {**LOGIN_DOORS, "profile check": profile_check}


def assert_wrong(door: str, response: Any) -> None:
    """What a wrong password gets, not yet throttled."""
    if door in ("admin form", "browsable API form"):
        assert response.status_code == 200, response.content
        # The admin's error note, or the people's login page's alert.
        assert b"errornote" in response.content or b'role="alert"' in response.content
    elif door == "profile check":
        assert_error(response, 400, "validation_error")
    else:
        assert_error(response, 401, "authentication_failed")


def assert_right(door: str, response: Any) -> None:
    """What the right password gets, not throttled."""
    if door in ("admin form", "browsable API form"):
        assert response.status_code == 302, response.content
        assert SESSION_KEY in response.client.session
    else:
        assert response.status_code == 200, response.content


def assert_refused(door: str, response: Any) -> int:
    """429 with Retry-After: the forms as an HTML page saying why, the API as an error."""
    assert response.status_code == 429, response.content
    retry_after = response["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    if door in ("admin form", "browsable API form"):
        assert response["Content-Type"].startswith("text/html")
        assert b"Too many login attempts" in response.content
        assert SESSION_KEY not in response.client.session
    else:
        assert_error(response, 429, "throttled")
    return int(retry_after)


# --- one count for every door -----------------------------------------------------------


@pytest.mark.parametrize("door", list(DOORS))
def test_below_the_rate_the_right_password_still_gets_through_each_door(
    door, root, small_login_rate
):
    for _ in range(RATE - 1):
        assert_wrong(door, DOORS[door]("root", WRONG))

    assert_right(door, DOORS[door]("root", PASSWORD))


@pytest.mark.parametrize("door", list(LOGIN_DOORS))
def test_a_login_form_refuses_the_right_password_once_the_account_is_over_the_rate(
    door, root, small_login_rate
):
    for _ in range(RATE):
        assert_wrong(door, DOORS[door]("root", WRONG))

    assert_refused(door, DOORS[door]("root", PASSWORD))
    assert not UserSession.objects.exists()


@pytest.mark.parametrize("checked", list(DOORS))
@pytest.mark.parametrize("guessed", list(DOORS))
def test_guesses_through_one_door_count_at_every_other(guessed, checked, root, small_login_rate):
    for _ in range(RATE):
        assert_wrong(guessed, DOORS[guessed]("root", WRONG))

    assert_refused(checked, DOORS[checked]("root", PASSWORD))


def test_guesses_spread_over_the_forms_and_the_api_add_up(root, small_login_rate):
    # One under the rate through the forms, then the API's last allowed attempt.
    assert_wrong("admin form", admin_form("root", WRONG))
    assert_wrong("browsable API form", api_auth_form("root", WRONG))
    assert_wrong("JSON login", json_login("root", WRONG))

    assert_refused("JSON login", json_login("root", PASSWORD))
    assert_refused("admin form", admin_form("root", PASSWORD))


def test_the_form_count_is_per_client_ip(root, small_login_rate):
    for _ in range(RATE):
        assert_wrong("admin form", admin_form("root", WRONG, ip="192.0.2.10"))
    assert_refused("admin form", admin_form("root", PASSWORD, ip="192.0.2.10"))

    assert_right("admin form", admin_form("root", PASSWORD, ip="192.0.2.11"))


def test_the_forms_count_in_the_per_ip_window_whatever_the_username(root, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "1000/min", "login_ip": "3/min"}
    assert_wrong("admin form", admin_form("guess1", WRONG))
    assert_wrong("browsable API form", api_auth_form("guess2", WRONG))
    assert_wrong("admin form", admin_form("", WRONG))  # no username: still an attempt

    assert_refused("admin form", admin_form("root", PASSWORD))
    assert_refused("JSON login", json_login("root", PASSWORD))
    assert_right("admin form", admin_form("root", PASSWORD, ip="192.0.2.11"))


def test_the_form_opens_again_when_the_window_turns(root, small_login_rate, monkeypatch):
    for _ in range(RATE):
        admin_form("root", WRONG)
    wait = assert_refused("admin form", admin_form("root", PASSWORD))

    clock = taskmanager.throttles.time.time
    monkeypatch.setattr(taskmanager.throttles, "time", SimpleNamespace(time=lambda: clock() + wait))

    assert_right("admin form", admin_form("root", PASSWORD))


# --- no spelling escapes the count ------------------------------------------------------


@pytest.mark.parametrize(
    "spellings",
    [
        ["ROOT", "Root", "rOOt"],
        ["root@example.com", "ROOT@Example.COM", " root "],
        # The form's field normalises to NFKC: full-width letters are "root".
        ["\uff52\uff4f\uff4f\uff54", "\uff32\uff2f\uff2f\uff34", "root"],
    ],
)
def test_no_spelling_of_the_account_escapes_the_form_count(spellings, root, small_login_rate):
    for name in spellings:
        assert_wrong("admin form", admin_form(name, WRONG))

    assert_refused("admin form", admin_form("root", PASSWORD))
    assert_refused("JSON login", json_login("root@example.com", PASSWORD))


@pytest.mark.parametrize("door", ["admin form", "JSON login"])
def test_a_spelling_the_database_lowers_to_the_account_counts_on_it(door, db, small_login_rate):
    # PostgreSQL lowers "İ" to "i", so "Mİa" logs in as "mia"; Python lowers it to
    # "i" with a combining dot, which counted as another name: 2**n counts for n i's.
    UserFactory(username="mia", email="mia@example.com")
    if json_login("MİA", PASSWORD, ip="198.51.100.7").status_code != 200:
        pytest.skip("this database does not match the spelling to the account (SQLite)")
    for name in ["MİA", "mİa", "Mia"]:
        assert_wrong(door, DOORS[door](name, WRONG))

    assert_refused(door, DOORS[door]("mia", PASSWORD))


def test_fields_the_form_does_not_read_do_not_change_the_account_counted(root, small_login_rate):
    # The API reads `email` before `username`; the forms check `username` only, so an
    # invented email beside it must not give each guess a fresh count.
    for n in range(RATE):
        response = api_auth_form("root", WRONG, email=f"nobody{n}@example.com")
        assert_wrong("browsable API form", response)

    assert_refused("browsable API form", api_auth_form("root", PASSWORD))
    assert_refused("admin form", admin_form("root", PASSWORD, email="other@example.com"))


def test_the_profile_check_counts_on_the_account_however_the_login_names_it(db, small_login_rate):
    UserFactory(username="Ann@Example.org", email="ann@work.example")
    for _ in range(RATE):
        assert_wrong("profile check", profile_check("Ann@Example.org", WRONG))

    assert_refused("admin form", admin_form("ann@work.example", PASSWORD))
    assert_refused("JSON login", json_login("ANN@example.org", PASSWORD))


def test_the_profile_check_still_counts_per_user_from_any_address(root, small_login_rate):
    # Stricter than the per-address login count: kept for a stolen access token.
    for n in range(RATE):
        assert_wrong("profile check", profile_check("root", WRONG, ip=f"192.0.2.{20 + n}"))

    assert_refused("profile check", profile_check("root", PASSWORD, ip="192.0.2.99"))
    # A login from an address that made no guess is not held up by it.
    assert_right("admin form", admin_form("root", PASSWORD, ip="192.0.2.99"))


# --- what a refused form attempt does and does not do -----------------------------------


def test_a_throttled_form_attempt_never_reaches_the_password_check(
    root, small_login_rate, monkeypatch
):
    for _ in range(RATE):
        admin_form("root", WRONG)
    checks: list[str] = []
    original = UsernameOrEmailBackend.authenticate

    def spy(self: Any, request: Any, **credentials: Any) -> Any:
        checks.append(credentials.get("username") or "")
        return original(self, request, **credentials)

    monkeypatch.setattr(UsernameOrEmailBackend, "authenticate", spy)

    assert_refused("admin form", admin_form("root", PASSWORD))
    assert_refused("browsable API form", api_auth_form("ROOT", WRONG))
    assert checks == []
    assert_right("admin form", admin_form("root", PASSWORD, ip="192.0.2.11"))
    assert checks == ["root"]  # the spy does see a check that is let through


def test_the_refused_admin_page_renders_the_form_again_with_the_reason(root, small_login_rate):
    for _ in range(RATE):
        admin_form("root", WRONG)

    response = admin_form("root", PASSWORD)

    wait = assert_refused("admin form", response)
    page = response.content.decode()
    assert f"Too many login attempts. Try again in {wait} seconds." in page
    assert 'name="username"' in page and 'name="password"' in page
    assert "Traceback" not in page


def test_the_refused_browsable_api_page_renders_the_form_again_with_the_reason(
    root, small_login_rate
):
    for _ in range(RATE):
        api_auth_form("root", WRONG)

    response = api_auth_form("root", PASSWORD)

    wait = assert_refused("browsable API form", response)
    page = response.content.decode()
    assert f"Too many login attempts. Try again in {wait} seconds." in page
    assert 'name="username"' in page and 'name="password"' in page


@pytest.mark.parametrize("url", [ADMIN_LOGIN, API_AUTH_LOGIN])
def test_the_login_pages_render_and_showing_them_is_not_an_attempt(url, root, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "1/min", "login_ip": "1/min"}
    for _ in range(3):
        page = Client().get(url, REMOTE_ADDR=IP)
        assert page.status_code == 200
        assert b'name="username"' in page.content and b'name="password"' in page.content

    assert_right("admin form", admin_form("root", PASSWORD))


def test_the_admin_still_sends_anonymous_visitors_to_its_throttled_login(root, small_login_rate):
    redirect = Client().get("/admin/", REMOTE_ADDR=IP)
    assert redirect.status_code == 302
    assert redirect["Location"].startswith(ADMIN_LOGIN)
    for _ in range(RATE):
        admin_form("root", WRONG)

    assert_refused(
        "admin form",
        Client().post(
            redirect["Location"], {"username": "root", "password": PASSWORD}, REMOTE_ADDR=IP
        ),
    )


# --- the cache down --------------------------------------------------------------------

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # Nothing listens on port 9 (discard) here: every cache call fails at once.
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}


def test_with_redis_down_the_forms_answer_and_let_attempts_through(
    root, small_login_rate, settings, caplog
):
    # As the API's throttles do: the count is lost (logged), the login still works.
    settings.CACHES = DEAD_REDIS
    settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

    for _ in range(RATE + 1):
        assert_wrong("admin form", admin_form("root", WRONG))
        assert_wrong("browsable API form", api_auth_form("root", WRONG))

    assert_right("admin form", admin_form("root", PASSWORD))
    assert_right("browsable API form", api_auth_form("root", PASSWORD))
    assert any("throttle not counted" in record.getMessage() for record in caplog.records)


# --- the admin's "change password": a check of the old password -----------------------

PASSWORD_CHANGE = "/admin/password_change/"


def admin_password_change(client: Client, old: str, ip: str = IP) -> Any:
    body = {"old_password": old, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    return client.post(PASSWORD_CHANGE, body, REMOTE_ADDR=ip)


@pytest.fixture
def root_browser(root: User) -> Client:
    client = Client()
    client.force_login(root)
    return client


def test_the_admin_password_change_refuses_the_right_old_password_once_over_the_rate(
    root, root_browser, small_login_rate
):
    # A stolen admin session cookie must not make the old-password check an oracle.
    for n in range(RATE):
        wrong = admin_password_change(root_browser, f"guess-{n}")
        assert wrong.status_code == 200, wrong.content
        assert b"errornote" in wrong.content or b"errorlist" in wrong.content

    refused = admin_password_change(root_browser, PASSWORD)

    assert refused.status_code == 429, refused.content
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert b"Too many login attempts" in refused.content
    root.refresh_from_db()
    assert root.check_password(PASSWORD), "the refused request changed nothing"


def test_admin_password_change_guesses_count_with_logins_and_the_other_way(
    root, root_browser, small_login_rate
):
    for n in range(RATE - 1):
        assert admin_password_change(root_browser, f"guess-{n}").status_code == 200
    assert_wrong("JSON login", json_login("root", WRONG))

    assert admin_password_change(root_browser, PASSWORD).status_code == 429
    assert_refused("admin form", admin_form("root", PASSWORD))
    assert_refused("profile check", profile_check("root", PASSWORD, ip="192.0.2.50"))


def test_the_admin_password_change_ends_the_users_api_sessions_and_keeps_the_admin_one(
    root, root_browser, small_login_rate, committed
):
    tokens = session_start(user=root, ip="198.51.100.1", user_agent="test")

    with committed():
        changed = admin_password_change(root_browser, PASSWORD)

    assert changed.status_code == 302, changed.content
    assert changed["Location"] == "/admin/password_change/done/"
    root.refresh_from_db()
    assert root.check_password(NEW_PASSWORD)
    assert bearer_client(tokens.access).get(ME_URL).status_code == 401
    assert root_browser.get("/admin/").status_code == 200
    page = root_browser.get(PASSWORD_CHANGE)
    assert page.status_code == 200 and b'name="old_password"' in page.content
