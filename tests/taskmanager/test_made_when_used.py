"""taskmanager.middleware.SessionWhenUsed and MessagesWhenUsed: a request with a
token makes no session store and no message storage; a session login, the admin's
messages and a stale session cookie are answered as by Django's own middleware."""

import pytest
from django.conf import settings
from django.test import Client
from django.utils.functional import SimpleLazyObject, empty

from taskmanager import middleware
from tests.factories import TaskFactory, UserFactory
from tests.helpers import TASKS_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def storages_made(monkeypatch) -> list[object]:
    made: list[object] = []
    make = middleware.default_storage

    def counted(request):
        made.append(request)
        return make(request)

    monkeypatch.setattr(middleware, "default_storage", counted)
    return made


def never_used(made_when_used: object) -> bool:
    return isinstance(made_when_used, SimpleLazyObject) and made_when_used._wrapped is empty


def test_a_token_request_makes_no_session_or_message_storage_and_sets_no_cookie(
    member_client, storages_made
):
    response = member_client.post(TASKS_URL, {"title": "Quiet"}, format="json")
    assert response.status_code == 201
    response = member_client.get(TASKS_URL)

    assert response.status_code == 200
    assert storages_made == []
    assert never_used(response.wsgi_request._messages)
    assert never_used(response.wsgi_request.session)
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_the_admins_message_is_stored_and_shown_on_the_next_page(storages_made):
    operator = UserFactory(username="root", email="root@example.com", superuser=True)
    task = TaskFactory(status="pending")
    client = Client()
    client.force_login(operator)

    acted = client.post(
        "/admin/tasks/task/", {"action": "mark_completed", "_selected_action": [task.pk]}
    )
    assert acted.status_code == 302
    assert storages_made  # the action added its message
    shown = client.get(acted["Location"])

    assert "1 task(s) marked as completed" in shown.content.decode()
    # Shown once: read, it is gone.
    assert "marked as completed" not in client.get(acted["Location"]).content.decode()


def test_a_session_login_is_saved_and_read_back_on_the_next_request():
    user = UserFactory(password="Correct-horse-battery-9")
    client = Client()

    client.get("/api/v1/")  # no cookie yet: nothing to save
    assert settings.SESSION_COOKIE_NAME not in client.cookies
    logged_in = client.post(
        "/login/", {"username": user.username, "password": "Correct-horse-battery-9"}
    )
    assert logged_in.status_code == 302
    assert settings.SESSION_COOKIE_NAME in logged_in.cookies

    me = client.get("/api/v1/users/me/", HTTP_ACCEPT="application/json")
    assert me.status_code == 200, me.content
    assert me.json()["id"] == user.pk
    assert "Cookie" in me["Vary"]


def test_a_session_cookie_of_no_session_is_deleted_as_django_does(member_client):
    """Beside a token, which leaves the session unread."""
    member_client.cookies[settings.SESSION_COOKIE_NAME] = "short"  # not a session key

    response = member_client.get(TASKS_URL)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value == ""
    assert cookie["max-age"] == 0
