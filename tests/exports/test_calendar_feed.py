"""The calendar feed: `POST /api/v1/users/me/calendar-feed/` hands out a secret
address, `GET /calendar/<token>.ics` answers an iCalendar document of the owner's
visible tasks with a due date, without credentials."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client, TestCase
from django.utils import timezone
from icalendar import Calendar
from rest_framework.test import APIClient

from accounts.services import user_set_active
from exports import selectors, views
from exports.models import CalendarFeed
from tasks.models import Task
from tests.factories import TaskFactory
from tests.helpers import assert_error
from tests.projects.helpers import archive
from tests.tasks.collaboration_helpers import make_label

FEED_URL = "/api/v1/users/me/calendar-feed/"
SOON = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)


def new_feed(client: Any) -> str:
    """POSTs for a feed address; returns its path (`/calendar/<token>.ics`)."""
    response = client.post(FEED_URL)
    assert response.status_code == 200, response.content
    url = response.json()["url"]
    assert url.startswith("http://testserver/calendar/")
    assert url.endswith(".ics")
    return url.removeprefix("http://testserver")


def fetch(path: str, **extra: Any) -> Any:
    """The feed, as a calendar application fetches it: no credentials at all."""
    return Client().get(path, **extra)


def events(response: Any) -> dict[str, Any]:
    """UID -> VEVENT of a 200 feed, parsed by `icalendar`."""
    assert response.status_code == 200, response.content
    calendar = Calendar.from_ical(response.content)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def uid(task: Task) -> str:
    return f"task-{task.pk}@testserver"


def test_the_feed_lists_the_tasks_with_a_due_date_the_user_sees(
    member, member_client, other_member, garden
):
    own = TaskFactory(owner=member, title="Repot the fern", due_date=SOON)
    shared = TaskFactory(
        owner=other_member, project=garden, title="Otto's in Garden", due_date=SOON
    )
    TaskFactory(owner=member, title="No due date")
    private = TaskFactory(owner=other_member, title="Otto's private", due_date=SOON)

    response = fetch(new_feed(member_client))

    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response["Cache-Control"]
    found = events(response)
    assert set(found) == {uid(own), uid(shared)}
    assert uid(private) not in found
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["VERSION"]) == "2.0"
    assert calendar["PRODID"]
    assert str(calendar["X-WR-CALNAME"]) == "Taskmanager: mia"
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in response.content
    assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in response.content


def test_an_event_carries_the_tasks_fields(member, member_client, garden):
    label = make_label(garden, "Outdoors")
    task = TaskFactory(
        owner=member,
        project=garden,
        title="Prune the roses",
        description="Before the frost",
        priority=Task.Priority.HIGH,
        due_date=SOON.astimezone(timezone.get_fixed_timezone(120)),
        labels=[label.pk],
    )
    task.refresh_from_db()

    event = events(fetch(new_feed(member_client)))[uid(task)]

    assert str(event["SUMMARY"]) == "Prune the roses"
    assert event.decoded("DTSTART") == SOON  # in UTC, whatever the offset given
    assert event.decoded("DTSTART").tzinfo is not None
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
    # iCalendar's times are to the second.
    assert event.decoded("LAST-MODIFIED") == task.updated_at.replace(microsecond=0)
    assert event.decoded("DTSTAMP") == task.updated_at.replace(microsecond=0)
    assert event["SEQUENCE"] == task.version
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event["PRIORITY"] == 1
    description = str(event["DESCRIPTION"])
    assert "Project: Garden" in description
    assert "Status: Pending" in description
    assert "Before the frost" in description
    assert [str(c) for c in event["CATEGORIES"].cats] == ["Outdoors"]


def test_a_changed_task_keeps_its_uid_and_raises_its_sequence(member, member_client):
    task = TaskFactory(owner=member, title="Before", due_date=SOON)
    path = new_feed(member_client)
    first = events(fetch(path))[uid(task)]

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = member_client.patch(f"/api/v1/tasks/{task.pk}/", {"title": "After"})
    assert response.status_code == 200

    second = events(fetch(path))[uid(task)]
    assert str(second["SUMMARY"]) == "After"
    assert second["SEQUENCE"] == first["SEQUENCE"] + 1


def test_a_viewer_of_a_shared_project_gets_its_tasks(viewer, client_for, member, garden):
    task = TaskFactory(owner=member, project=garden, due_date=SOON)

    assert set(events(fetch(new_feed(client_for(viewer))))) == {uid(task)}


def test_an_outsider_gets_an_empty_calendar(outsider, client_for, member, garden):
    TaskFactory(owner=member, project=garden, due_date=SOON)

    response = fetch(new_feed(client_for(outsider)))

    assert events(response) == {}


def test_tasks_of_archived_projects_are_left_out(member, member_client, garden):
    TaskFactory(owner=member, project=garden, due_date=SOON)
    archive(garden)

    assert events(fetch(new_feed(member_client))) == {}


def test_tasks_due_long_ago_are_left_out_and_the_earliest_come_first(
    member, member_client, monkeypatch
):
    now = timezone.now()
    old = TaskFactory(owner=member, due_date=now - selectors.FEED_PAST - timedelta(hours=1))
    recent = TaskFactory(owner=member, due_date=now - timedelta(days=1))
    later = [TaskFactory(owner=member, due_date=now + timedelta(days=d)) for d in (3, 1, 2)]
    monkeypatch.setattr(selectors, "FEED_MAX_EVENTS", 3)

    found = events(fetch(new_feed(member_client)))

    assert uid(old) not in found
    # The cap keeps the earliest: the one due yesterday, then tomorrow and the day after.
    assert set(found) == {uid(recent), uid(later[1]), uid(later[2])}


def test_a_new_address_replaces_the_previous_one_at_once(member, member_client):
    TaskFactory(owner=member, due_date=SOON)
    first = new_feed(member_client)
    assert fetch(first).status_code == 200

    second = new_feed(member_client)

    assert second != first
    assert_error(fetch(first), 404, "not_found")
    assert fetch(second).status_code == 200
    feeds = list(CalendarFeed.objects.filter(user=member))
    assert len(feeds) == 1
    token = second.removeprefix("/calendar/").removesuffix(".ics")
    assert feeds[0].token_hash == CalendarFeed.hash_token(token)
    assert token not in feeds[0].token_hash


def test_the_address_is_not_cached(member_client):
    response = member_client.post(FEED_URL)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_asking_for_an_address_needs_authentication(db):
    response = APIClient().post(FEED_URL)

    assert_error(response, 401, "not_authenticated")
    assert CalendarFeed.objects.count() == 0


def test_the_address_is_asked_for_with_post_only(member_client):
    assert member_client.get(FEED_URL).status_code == 405


def test_an_unknown_token_is_not_found(db):
    response = fetch("/calendar/not-a-token.ics", HTTP_ACCEPT="text/calendar")

    assert_error(response, 404, "not_found")


def test_a_deactivated_users_feed_answers_as_an_unknown_token(member, member_client):
    TaskFactory(owner=member, due_date=SOON)
    path = new_feed(member_client)
    unknown = fetch("/calendar/not-a-token.ics")

    with TestCase.captureOnCommitCallbacks(execute=True):
        user_set_active(user=member, is_active=False)

    response = fetch(path)
    assert_error(response, 404, "not_found")
    assert response.content == unknown.content


def test_an_unchanged_feed_answers_304_to_its_etag(member, member_client):
    TaskFactory(owner=member, due_date=SOON)
    path = new_feed(member_client)
    first = fetch(path)
    assert first["ETag"]

    again = fetch(path, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert fetch(path).content == first.content


def test_the_token_is_written_in_no_log_record(member, member_client, caplog):
    TaskFactory(owner=member, due_date=SOON)
    path = new_feed(member_client)
    token = path.removeprefix("/calendar/").removesuffix(".ics")

    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert fetch(path).status_code == 200
        assert fetch(path.replace(token, token[::-1])).status_code == 404
        # No feed's route: a 404 of the URL conf, which the access log still hides.
        assert fetch(f"/calendar/{token}/x.ics").status_code == 404
        assert fetch(f"/calendar/{token}").status_code == 404

    access = [r.__dict__ for r in caplog.records if r.name == "taskmanager.access"]
    assert [(r["path"], r["status"]) for r in access] == [
        ("/calendar/<redacted>.ics", 200),
        ("/calendar/<redacted>.ics", 404),
        ("/calendar/<redacted>.ics", 404),
        ("/calendar/<redacted>", 404),
    ]
    assert len(caplog.records) >= 4
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__}"
        assert token not in text
        assert token[::-1] not in text


def test_fetches_of_one_feed_are_throttled_by_its_token(
    member_client, other_member_client, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "calendar_feed": "2/min"}
    mine = new_feed(member_client)
    theirs = new_feed(other_member_client)

    statuses = [fetch(mine).status_code for _ in range(2)]
    throttled = fetch(mine)

    assert statuses == [200, 200]
    assert_error(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0
    # Another feed fetched from the same address has its own count.
    assert fetch(theirs).status_code == 200


def test_without_a_rate_of_its_own_the_feed_takes_the_read_rate(member_client, settings):
    rates = {k: v for k, v in settings.THROTTLE_RATES.items() if k != "calendar_feed"}
    settings.THROTTLE_RATES = {**rates, "read": "1/min"}
    path = new_feed(member_client)

    assert fetch(path).status_code == 200
    assert_error(fetch(path), 429, "throttled")


def test_the_feed_reads_a_bounded_number_of_queries(
    member, member_client, garden, django_assert_max_num_queries
):
    labels = [make_label(garden, f"L{i}").pk for i in range(3)]
    for i in range(30):
        TaskFactory(owner=member, project=garden, due_date=SOON, labels=labels[: i % 4])
    path = new_feed(member_client)

    # The feed's owner, the user's permissions, the tasks, their labels.
    with django_assert_max_num_queries(6):
        assert len(events(fetch(path))) == 30


def test_an_unexpected_error_of_the_feed_is_logged_without_the_token(
    member_client, caplog, monkeypatch
):
    path = new_feed(member_client)
    token = path.removeprefix("/calendar/").removesuffix(".ics")

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("the document could not be written")

    monkeypatch.setattr(views, "calendar_document", broken)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = fetch(path)

    assert_error(response, 500, "server_error")
    messages = [record.getMessage() for record in caplog.records]
    assert "Unhandled exception in GET /calendar/<redacted>.ics" in messages
    for record in caplog.records:
        assert token not in f"{record.getMessage()} {record.__dict__} {record.exc_text}"
