"""Each notification records a `notification.created` event in its cause's
transaction, after the cause's own: read by its one user only (no "read all"
permission: not even a superuser reads another's), never in the task feed."""

import pytest

from activity import kinds
from activity.models import Event
from activity.selectors import events_visible_to
from tests.comments.helpers import post_comment
from tests.factories import UserFactory
from tests.helpers import FEED_URL, page
from tests.notifications.helpers import notifications

pytestmark = pytest.mark.django_db


def test_a_notification_records_its_event_for_its_user_only(
    bed, sam, other_member, sam_client, other_member_client
):
    comment = post_comment(sam_client, bed, "@otto look")
    (shown,) = notifications(other_member_client)

    cause = Event.objects.get(type="comment.created")
    event = Event.objects.get(type="notification.created", owner_id=other_member.pk)
    assert event.id > cause.id
    assert event.subject_id == shown["id"]
    assert event.data == shown
    assert event.data["comment"] == comment["id"]
    assert event.changes == {}
    assert event.actor_id == sam.pk
    assert event.project_id is None
    assert (event.assignee_id, event.previous_assignee_id, event.previous_project_id) == (
        None,
        None,
        None,
    )
    assert kinds.audience(event) == [kinds.user_key(other_member.pk)]


def test_only_its_user_reads_a_notifications_event(
    bed, member, other_member, sam, viewer, manager, admin, sam_client
):
    post_comment(sam_client, bed, "@otto look")
    event = Event.objects.get(type="notification.created", owner_id=other_member.pk)
    superuser = UserFactory(username="root", email="root@example.com", superuser=True)

    assert events_visible_to(other_member).filter(pk=event.pk).exists()
    assert events_visible_to(other_member, kind="notification").filter(pk=event.pk).exists()
    for reader in (member, sam, viewer, manager, admin, superuser):
        assert not events_visible_to(reader).filter(pk=event.pk).exists(), reader
        theirs = events_visible_to(reader, kind="notification")
        assert not theirs.exclude(owner_id=reader.pk).exists(), reader
        assert kinds.user_key(other_member.pk) not in kinds.keys_of(reader)
    # Other kinds keep their "read all" permission.
    assert events_visible_to(superuser).filter(type="comment.created").exists()
    assert events_visible_to(manager, kind="comment").count() == 1
    assert all(not key.startswith("permission.None") for key in kinds.keys_of(superuser))


def test_the_task_feed_holds_task_events_only(bed, sam_client, other_member_client):
    post_comment(sam_client, bed, "@otto look")

    feed = page(other_member_client.get(FEED_URL))["results"]

    assert {event["kind"] for event in feed} == {"created"}
    task_events = Event.objects.filter(type__startswith="task.")
    assert [event["id"] for event in feed] == list(task_events.values_list("id", flat=True))


def test_notification_events_notify_no_one():
    """Recording a notification's event derives nothing more from it."""
    from notifications.services import notifications_for_event

    event = Event(type="notification.created", subject_id=1, data={}, changes={})
    notifications_for_event(event)  # no query, no recursion: nothing to do


def test_a_comment_and_its_notifications_ask_for_the_ordering_lock_once(sam, bed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from comments.services import comment_create
    from notifications.models import Notification

    if connection.vendor != "postgresql":
        pytest.skip("the ordering lock is PostgreSQL's (activity.services)")
    with CaptureQueriesContext(connection) as captured:
        comment_create(actor=sam, task=bed, body="@otto look")

    # The comment's event and the two notifications' (Otto mentioned, Mia commented).
    assert Notification.objects.filter(comment__isnull=False).count() == 2
    assert sum("notification.created" in str(q["sql"]) for q in captured.captured_queries) == 2
    locks = [q for q in captured.captured_queries if "pg_advisory_xact_lock" in q["sql"]]
    assert len(locks) == 1
