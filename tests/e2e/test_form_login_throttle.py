"""The HTML login forms against gunicorn with production settings, as a script
guessing a superuser's password would use them (CSRF token and cookie included):
its guesses count with the API's logins, and the right password is refused once over."""

import os
import re
import time
from pathlib import Path

import requests

from tests.e2e.servers import PASSWORD, Server, manage, serve

RATE = 5  # THROTTLE_LOGIN_RATE's default: 5/min per account and address


def form_login(web: Server, path: str, username: str, password: str) -> requests.Response:
    session = requests.Session()
    page = session.get(f"{web.base_url}{path}", timeout=10)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, "the login page has no CSRF token"
    return session.post(
        f"{web.base_url}{path}",
        data={"csrfmiddlewaretoken": match[1], "username": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )


def start_in_a_fresh_window(margin: float = 20) -> None:
    """The login windows are fixed minutes of the server's clock (this machine's): with
    less than `margin` s left in this one, wait for the next, so that every attempt of
    the test counts in one window."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.5)


def test_guessing_a_superusers_password_through_the_forms_is_refused_at_the_login_rate(
    browser_env: dict[str, str], tmp_path: Path
):
    manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "operator",
        "--email",
        "operator@example.com",
        env={**browser_env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD, "PATH": os.environ["PATH"]},
    )
    # One worker: without Redis (CI's first pass) each process has its own cache.
    with serve("gunicorn", browser_env, tmp_path, workers=1) as web:
        start_in_a_fresh_window()
        answers = [
            form_login(web, "/admin/login/", "operator", f"guess-{n}").status_code
            for n in range(RATE - 1)
        ]
        answers.append(form_login(web, "/login/", "OPERATOR", "guess").status_code)

        admin = form_login(web, "/admin/login/", "operator", PASSWORD)
        api_auth = form_login(web, "/login/", "operator@example.com", PASSWORD)
        api = requests.post(
            f"{web.base_url}/api/v1/auth/login/",
            json={"username": "operator", "password": PASSWORD},
            timeout=10,
        )

        assert answers == [200] * RATE  # the form again, saying the password is wrong
        for refused in (admin, api_auth):
            assert refused.status_code == 429, refused.text
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            assert "Too many login attempts" in refused.text
            assert "sessionid" not in refused.cookies
        assert api.status_code == 429, api.text
        assert api.json()["error"]["code"] == "throttled"
        # No proxy is trusted here: a forged X-Forwarded-For is not another address.
        forged = requests.post(
            f"{web.base_url}/api/v1/auth/login/",
            json={"username": "operator", "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.9"},
            timeout=10,
        )
        assert forged.status_code == 429, forged.text
