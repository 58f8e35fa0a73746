"""The cursor is opaque, signed and bound to its user: a changed, foreign or made-up
cursor is a 400 `invalid_cursor`; one whose changes were pruned (or whose user's role
changed what they read) a 410 `cursor_expired`, after which a client starts again."""

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core import signing
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import user_set_role
from activity.models import Event
from projects.services import member_add, project_create
from sync import cursors, pages
from tests.factories import TaskFactory
from tests.helpers import assert_error
from tests.sync.helpers import SYNC_URL, Replica, sync_page

pytestmark = pytest.mark.django_db


def get(client: Any, cursor: str) -> Any:
    return client.get(SYNC_URL, {"cursor": cursor})


def assert_invalid(response: Any, reason: str = cursors.NOT_OURS) -> None:
    error = assert_error(response, 400, "invalid_cursor")
    assert error["fields"] == {"cursor": [reason]}


def test_a_changed_cursor_is_refused(member_client):
    cursor = sync_page(member_client)["cursor"]
    payload, _, rest = cursor.partition(":")
    changed = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]

    assert_invalid(get(member_client, f"{changed}:{rest}"))
    assert_invalid(get(member_client, cursor[:-1] + ("x" if cursor[-1] != "x" else "y")))


@pytest.mark.parametrize(
    "made_up",
    [
        "abc",
        "x" * 513,
        "not a cursor",
        "curs\u00f6r",
        "eyJ2IjoxLCJ1IjoxLCJyIjowLCJwIjo1fQ",
        "eyJ2IjoxLCJ1IjoxLCJyIjowLCJwIjo1fQ:1xZxIM:",
        "::",
        ".",
    ],
)
def test_a_made_up_cursor_is_refused(member_client, made_up):
    assert_invalid(get(member_client, made_up))


def test_a_cursor_signed_for_something_else_is_refused(member, member_client):
    payload = {"v": 1, "u": member.pk, "r": 0, "p": 0}

    assert_invalid(get(member_client, signing.dumps(payload, salt="another.purpose")))


@pytest.mark.parametrize(
    "payload",
    [
        {"v": 2, "r": 0, "p": 0},
        {"v": 1, "r": 0},
        {"v": 1, "r": 0, "p": -1},
        {"v": 1, "r": 0, "p": True},
        {"v": 1, "r": 0, "p": "5"},
        {"v": 1, "r": 0, "p": 0, "s": [0]},
        {"v": 1, "r": 0, "p": 0, "s": ["0", 0]},
        {"v": 1, "r": 0, "p": 0, "f": 1.5},
        [1, 2],
    ],
)
def test_a_signed_cursor_of_another_shape_is_refused(member, member_client, payload):
    # Only if the secret key leaked could anyone sign one: still no 500.
    if isinstance(payload, dict):
        payload = {**payload, "u": member.pk}

    assert_invalid(get(member_client, signing.dumps(payload, salt=cursors.SALT, compress=True)))


def test_another_users_cursor_is_refused(member_client, other_member_client):
    cursor = sync_page(other_member_client)["cursor"]

    assert_invalid(get(member_client, cursor), cursors.NOT_YOURS)


def test_an_empty_or_repeated_cursor_and_unknown_parameters_are_refused(member_client):
    cursor = sync_page(member_client)["cursor"]

    empty = assert_error(member_client.get(f"{SYNC_URL}?cursor="), 400, "validation_error")
    assert list(empty["fields"]) == ["cursor"]
    twice = member_client.get(f"{SYNC_URL}?cursor={cursor}&cursor={cursor}")
    assert list(assert_error(twice, 400, "validation_error")["fields"]) == ["cursor"]
    unknown = member_client.get(SYNC_URL, {"cursor": cursor, "after": 3})
    assert list(assert_error(unknown, 400, "validation_error")["fields"]) == ["after"]


def test_anonymous_is_401(db):
    assert_error(APIClient().get(SYNC_URL), 401, "not_authenticated")


def test_a_cursor_is_good_for_as_long_as_its_events_are_kept(member_client, member):
    replica = Replica()
    replica.sync(member_client)
    TaskFactory(owner=member, title="One more")

    replica.sync(member_client)
    # The same cursor again: the same page. Its next cursor says the same; each is
    # signed with the time it is written, which may be a second later.
    first = sync_page(member_client, replica.pages[0]["cursor"])
    again = sync_page(member_client, replica.pages[0]["cursor"])
    assert (first["changes"], first["has_more"]) == (again["changes"], again["has_more"])
    read_back = (cursors.decode(page["cursor"], user_id=member.pk) for page in (first, again))
    assert len(set(read_back)) == 1
    assert [change["data"]["title"] for change in first["changes"]] == ["One more"]


def age_events(**filters: Any) -> None:
    """The events matched become older than the retention (30 days)."""
    Event.objects.filter(**filters).update(created_at=timezone.now() - timedelta(days=31))


def test_a_cursor_whose_changes_were_pruned_is_410_and_a_new_snapshot_starts_again(
    member_client, member
):
    replica = Replica()
    replica.sync(member_client)
    stale = replica.cursor
    TaskFactory(owner=member, title="Missed")
    TaskFactory(owner=member, title="Missed too")
    newest = Event.objects.order_by("-id").first()
    age_events(id__lt=newest.pk)

    call_command("cleanup_tokens", stdout=StringIO())

    error = assert_error(get(member_client, stale), 410, "cursor_expired")
    assert "start again without a cursor" in error["message"]
    fresh = Replica()
    fresh.sync(member_client)
    assert {data["title"] for data in fresh.of_type("task").values()} == {"Missed", "Missed too"}


def test_a_cursor_at_the_last_event_survives_the_pruning_of_older_ones(
    member_client, member, other_member
):
    # Events Mia cannot see move her cursor on too: after a quiet month hers is at the
    # newest event, which the pruning keeps.
    TaskFactory(owner=member, title="Mine")
    replica = Replica()
    replica.sync(member_client)
    TaskFactory(owner=other_member, title="Not hers")
    replica.sync(member_client)
    age_events()

    call_command("cleanup_tokens", stdout=StringIO())

    assert Event.objects.count() == 1
    assert sync_page(member_client, replica.cursor)["changes"] == []


def test_a_snapshot_in_progress_expires_with_its_events(member_client, member, monkeypatch):
    for n in range(3):
        TaskFactory(owner=member, title=f"Task {n}")
    monkeypatch.setattr(pages, "PAGE_CHANGES", 2)
    first = sync_page(member_client)
    assert first["has_more"] is True
    cursor = first["cursor"]
    TaskFactory(owner=member, title="Later")
    TaskFactory(owner=member, title="Later still")
    newest = Event.objects.order_by("-id").first()
    age_events(id__lt=newest.pk)
    call_command("cleanup_tokens", stdout=StringIO())

    assert_error(get(member_client, cursor), 410, "cursor_expired")


def test_a_role_that_changes_what_you_read_expires_the_cursor(member_client, member, committed):
    cursor = sync_page(member_client)["cursor"]
    with committed():
        user_set_role(user=member, role=Role.MANAGER)

    error = assert_error(get(member_client, cursor), 410, "cursor_expired")
    assert "role" in error["message"]


def test_a_cursor_inside_the_contents_of_a_project_joined_expires_with_their_events(
    member, member_client, outsider, outsider_client, monkeypatch
):
    garden = project_create(actor=member, name="Garden")
    for n in range(3):
        TaskFactory(owner=member, project=garden, title=f"Task {n}")
    replica = Replica()
    replica.sync(outsider_client)
    member_add(actor=member, project_id=garden.pk, identifier="oscar", role="viewer")
    monkeypatch.setattr(pages, "PAGE_CHANGES", 2)
    joined = sync_page(outsider_client, replica.cursor)
    inside = sync_page(outsider_client, joined["cursor"])
    assert inside["has_more"] is True
    TaskFactory(owner=member, project=garden, title="Later")
    newest = Event.objects.order_by("-id").first()
    age_events(id__lt=newest.pk)
    call_command("cleanup_tokens", stdout=StringIO())

    assert_error(get(outsider_client, inside["cursor"]), 410, "cursor_expired")
