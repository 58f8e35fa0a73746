"""Personal API tokens on the export endpoints (accounts.scopes): the CSV export is a
read of tasks (`tasks:read`, whatever else the token holds); the calendar feed's
address is no token's to rotate, whatever its scopes, as tokens themselves are made
only from a login session (docs/personal-tokens.md)."""

from typing import Any

import pytest

from accounts.scopes import NOT_FOR_PATS
from exports.models import CalendarFeed
from tests.accounts.personal_token_helpers import EVERY_SCOPE, pat_client, token_of
from tests.exports.test_calendar_feed import FEED_URL, fetch, new_feed
from tests.exports.test_csv_export import EXPORT_URL, rows
from tests.factories import TaskFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

ALL_BUT_TASKS_READ = [scope for scope in EVERY_SCOPE if scope != "tasks:read"]


def assert_insufficient(response: Any) -> dict[str, Any]:
    """403 `insufficient_scope` with RFC 6750's challenge. The error."""
    error = assert_error(response, 403, "insufficient_scope")
    assert response["WWW-Authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')
    return error


# --- the calendar feed: no token at all ------------------------------------------------


def test_a_token_with_every_scope_cannot_rotate_the_calendar_feed(
    member, member_client, client_for
):
    address = new_feed(member_client)
    token = pat_client(token_of(client_for, member, EVERY_SCOPE))

    response = token.post(FEED_URL)

    error = assert_insufficient(response)
    assert error["message"] == NOT_FOR_PATS
    # No scope is named: none would do.
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="insufficient_scope"'
    assert "url" not in response.json()
    # The address in use still works: nothing was rotated.
    assert fetch(address).status_code == 200
    assert CalendarFeed.objects.filter(user=member).count() == 1


def test_a_token_cannot_create_a_first_calendar_feed_either(member, client_for):
    response = pat_client(token_of(client_for, member, EVERY_SCOPE)).post(FEED_URL)

    assert_insufficient(response)
    assert not CalendarFeed.objects.exists()


def test_the_login_session_still_rotates_the_feed(member, member_client, client_for):
    # The control: the refusal is the token's, not the endpoint's.
    token_of(client_for, member, EVERY_SCOPE)
    first = new_feed(member_client)

    second = new_feed(member_client)

    assert second != first
    assert_error(fetch(first), 404, "not_found")


def test_the_schema_does_not_offer_a_token_for_the_calendar_feed(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    feed = schema["paths"][FEED_URL]["post"]
    export = schema["paths"][EXPORT_URL]["get"]
    assert {"personalToken": []} not in feed["security"]
    assert {"personalToken": []} in export["security"]


# --- the CSV export: tasks:read --------------------------------------------------------


def test_the_export_works_with_tasks_read(member, client_for):
    task = TaskFactory(owner=member, title="Repot the fern")

    response = pat_client(token_of(client_for, member, ["tasks:read"])).get(EXPORT_URL)

    [row] = rows(response)
    assert (row["id"], row["title"], row["owner"]) == (str(task.pk), "Repot the fern", "mia")


def test_the_export_takes_the_lists_filters_with_a_token(member, client_for):
    TaskFactory(owner=member, title="Done", status="completed")
    pending = TaskFactory(owner=member, title="Open", status="pending")
    token = pat_client(token_of(client_for, member, ["tasks:read", "files:read"]))

    response = token.get(EXPORT_URL, {"status": "pending"})

    assert [row["id"] for row in rows(response)] == [str(pending.pk)]


@pytest.mark.parametrize(
    "granted",
    [["tasks:write"], ["projects:read"], ALL_BUT_TASKS_READ],
    ids=["tasks-write", "projects-read", "every-other-scope"],
)
def test_the_export_is_403_without_tasks_read(member, client_for, granted):
    TaskFactory(owner=member, title="Private")

    response = pat_client(token_of(client_for, member, granted)).get(EXPORT_URL)

    error = assert_insufficient(response)
    assert "tasks:read" in error["message"]
    assert response["WWW-Authenticate"].endswith('scope="tasks:read"')
    assert response["Content-Type"] == "application/json"
    assert b"Private" not in response.content


def test_a_head_of_the_export_needs_tasks_read_too(member, client_for):
    reader = pat_client(token_of(client_for, member, ["tasks:read"]))
    writer = pat_client(token_of(client_for, member, ["tasks:write"]))

    assert reader.head(EXPORT_URL).status_code == 200
    assert writer.head(EXPORT_URL).status_code == 403
