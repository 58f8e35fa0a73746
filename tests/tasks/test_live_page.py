"""/live/: session login required; the page carries the visible tasks, the last
visible event id, and where its socket connects."""

import json
import re

import pytest

from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

LIVE_URL = "/live/"


def initial_data(response) -> dict:
    match = re.search(
        r'<script id="live-initial" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "no initial data on the page"
    return json.loads(match.group(1))


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(LIVE_URL)

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/live/"


def test_the_page_lists_only_visible_tasks_and_connects_to_its_own_host(
    client, member, other_member
):
    mine = TaskFactory(owner=member)
    TaskFactory(owner=other_member)
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert [task["id"] for task in data["tasks"]] == [mine.pk]
    assert data["last_event"] >= 0
    assert data["socket_url"] == ""


def test_the_page_connects_where_websocket_public_url_says(client, member, settings):
    settings.WEBSOCKET_PUBLIC_URL = "ws://127.0.0.1:8001/ws/tasks/"
    client.force_login(member)

    data = initial_data(client.get(LIVE_URL))

    assert data["socket_url"] == "ws://127.0.0.1:8001/ws/tasks/"
