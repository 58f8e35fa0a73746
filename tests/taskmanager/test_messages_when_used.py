"""taskmanager.middleware.MessagesWhenUsed: an API request makes no message storage;
the admin's messages still reach the next page."""

import pytest
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


def test_an_api_request_makes_no_message_storage_and_sets_no_cookie(member_client, storages_made):
    response = member_client.post(TASKS_URL, {"title": "Quiet"}, format="json")
    assert response.status_code == 201
    response = member_client.get(TASKS_URL)

    assert response.status_code == 200
    assert storages_made == []
    storage = response.wsgi_request._messages
    assert isinstance(storage, SimpleLazyObject)
    assert storage._wrapped is empty
    assert "messages" not in response.cookies


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
