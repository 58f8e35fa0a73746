"""/ws/tasks/ client messages: ping, resume (missed events of every kind the user may
read now, no gap, no duplicate, in batches of at most 1000) and the errors that keep
a socket open or close it."""

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from activity.models import Event
from comments.events import COMMENT_EVENTS
from notifications.events import NOTIFICATION_EVENTS
from projects import events as project_events
from projects.selectors import personal_project_of
from projects.services import member_remove
from realtime import consumers
from tasks import events
from tasks.models import Task
from tasks.services import task_delete, task_update
from tests.factories import TaskFactory
from tests.helpers import FEED_URL, page
from tests.realtime.sockets import (
    TIMEOUT,
    assert_silent,
    error_code,
    next_of_type,
    open_sockets,
    receive,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# What a resume sends: the events of every kind the user reads.
EVENT_TYPES = frozenset().union(
    events.TASK_EVENTS.types,
    project_events.PROJECT_EVENTS.types,
    project_events.LABEL_EVENTS.types,
    COMMENT_EVENTS.types,
    NOTIFICATION_EVENTS.types,
)
# A notification's event: read by its one user only.
NOTIFIED = "notification.created"
RESUME_LIMIT = 1000
MAX_CHARS = 4096


def in_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(function)


async def resume(communicator: Any, after: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Send a resume; the events it sends, then its `resumed` message."""
    await send(communicator, {"type": "resume", "after": after})
    sent = []
    while True:
        message = await receive(communicator)
        if message["type"] == "resumed":
            return sent, message
        assert message["type"] in EVENT_TYPES, message
        sent.append(message)


def event_ids(*conditions: Q, after: int = 0, **filters: Any) -> list[int]:
    return list(
        Event.objects.filter(*conditions, id__gt=after, **filters)
        .order_by("id")
        .values_list("id", flat=True)
    )


def task_event_ids(*task_ids: int, after: int = 0) -> list[int]:
    """The events of these tasks (a project's events have its id as `subject_id`)."""
    return event_ids(subject_id__in=task_ids, type__startswith="task.", after=after)


def project_event_ids(*project_ids: int, after: int = 0) -> list[int]:
    """Every event of these projects: theirs, their labels' and their tasks' (also of a
    task that left one)."""
    return event_ids(
        Q(project_id__in=project_ids) | Q(previous_project_id__in=project_ids), after=after
    )


def feed_items(client: Any, after: int = 0) -> list[dict[str, Any]]:
    return page(client.get(FEED_URL, {"after": after, "limit": 100}))["results"]


def assert_same_as_feed(messages: list[dict[str, Any]], feed: list[dict[str, Any]]) -> None:
    """Each resumed task message is the stored event the HTTP task feed lists, in its
    order (the feed has task events only)."""
    messages = [message for message in messages if message["type"].startswith("task.")]
    assert [message["event"] for message in messages] == [item["id"] for item in feed]
    for message, item in zip(messages, feed, strict=True):
        assert message["type"] == f"task.{item['kind']}"
        assert message["task"]["id"] == item["task"]
        assert message["changes"] == item["changes"]
        assert message["actor"] == item["actor"]
        assert message["at"] == item["at"]


async def assert_still_open(communicator: Any) -> None:
    await send(communicator, {"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}


@pytest.fixture
def history(member, other_member, manager, task, assigned_task, others_task) -> dict[str, Any]:
    """Events before any socket opens, some Mia may see and some she may not. Hers: the
    events of her personal project and of "Shared by otto" (`assigned_task`'s), which
    she joined after it was created; a member reads all of a project's events; and
    her notification of being assigned `assigned_task`. A manager's: all but others'
    notifications."""
    task_update(actor=member, task_id=task.pk, data={"title": "Mia's renamed task"})
    task_update(actor=other_member, task_id=others_task.pk, data={"priority": "high"})
    task_update(actor=member, task_id=assigned_task.pk, data={"status": "in_progress"})
    managers = TaskFactory(owner=manager, title="Manon's own")
    gone = TaskFactory(owner=member, title="Short-lived")
    task_delete(actor=member, task_id=gone.pk)
    task_update(actor=manager, task_id=managers.pk, data={"title": "Manon's renamed"})
    personal, shared = task.project_id, assigned_task.project_id
    return {
        "all": event_ids(),
        "mia": event_ids(
            Q(subject_id__in=[task.pk, assigned_task.pk, gone.pk], type__startswith="task.")
            | Q(subject_id__in=[personal, shared], type__startswith="project.")
            | Q(type=NOTIFIED, owner_id=member.pk)
        ),
        "manon": event_ids(~Q(type=NOTIFIED) | Q(owner_id=manager.pk)),
    }


# --- ping ---------------------------------------------------------------------------


async def test_a_ping_is_answered_with_a_pong(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}
        await assert_silent(ws)


async def test_pings_in_a_row_get_one_pong_each(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        for _ in range(5):
            await send(ws, {"type": "ping"})
        for _ in range(5):
            assert await receive(ws) == {"type": "pong"}
        await assert_silent(ws)


# --- resume -------------------------------------------------------------------------


async def test_resume_sends_the_missed_events_the_user_may_see_oldest_first_then_resumed(
    history, member_client
):
    expected = history["mia"]
    assert len(expected) == 10
    assert set(expected) < set(history["all"])

    async with open_sockets(member_client.tokens) as (ws,):
        sent, resumed = await resume(ws, 0)

        assert [message["event"] for message in sent] == expected
        assert resumed == {
            "type": "resumed",
            "after": 0,
            "last": expected[-1],
            "count": len(expected),
            "complete": True,
        }
        assert_same_as_feed(sent, await in_thread(feed_items)(member_client))
        snapshots = await in_thread(
            lambda: {event.pk: event.data for event in Event.objects.all()}
        )()
        for message in sent:
            assert message[message["type"].partition(".")[0]] == snapshots[message["event"]]
        assert Counter(message["type"] for message in sent) == {
            "project.created": 2,  # her personal project and "Shared by otto"
            "project.member_added": 1,  # she joined "Shared by otto"
            "task.created": 3,
            "task.updated": 2,
            "task.deleted": 1,
            NOTIFIED: 1,  # Otto assigned her `assigned_task`
        }
        await assert_silent(ws)


async def test_resume_after_an_event_sends_only_the_later_ones(history, member_client):
    expected = history["mia"]
    async with open_sockets(member_client.tokens) as (ws,):
        sent, resumed = await resume(ws, expected[2])

        assert [message["event"] for message in sent] == expected[3:]
        assert resumed == {
            "type": "resumed",
            "after": expected[2],
            "last": expected[-1],
            "count": len(expected) - 3,
            "complete": True,
        }


@pytest.mark.parametrize(
    "beyond", [0, 1, 10**6, 2**63, 2**70, pytest.param(10**4000, id="4001-digits")]
)
async def test_resume_with_nothing_missed_reports_after_as_last(history, member_client, beyond):
    after = history["all"][-1] + beyond
    async with open_sockets(member_client.tokens) as (ws,):
        sent, resumed = await resume(ws, after)

        assert sent == []
        assert resumed == {
            "type": "resumed",
            "after": after,
            "last": after,
            "count": 0,
            "complete": True,
        }


async def test_resume_skips_events_already_sent_live_on_this_socket(
    history, member, task, member_client
):
    async with open_sockets(member_client.tokens) as (ws,):
        live = []
        for title in ("Live one", "Live two"):
            await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": title})
            live.append((await receive(ws))["event"])

        sent, resumed = await resume(ws, 0)

        assert [message["event"] for message in sent] == history["mia"]
        assert resumed == {
            "type": "resumed",
            "after": 0,
            "last": live[-1],
            "count": len(history["mia"]),
            "complete": True,
        }
        # A second resume has nothing new for this socket.
        sent, resumed = await resume(ws, 0)
        assert sent == []
        assert resumed["count"] == 0
        assert resumed["last"] == live[-1]
        await assert_silent(ws)


async def test_resume_is_per_socket_another_socket_gets_everything(
    history, member, task, member_client
):
    async with open_sockets(member_client.tokens, member_client.tokens) as (first, second):
        await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": "Seen live"})
        live = (await receive(first))["event"]
        assert (await receive(second))["event"] == live

        sent, _ = await resume(first, 0)
        assert [message["event"] for message in sent] == history["mia"]
        await assert_silent(second)


async def test_a_removed_member_resumes_only_the_events_of_the_project_that_name_them(
    member, other_member, assigned_task, member_client
):
    """A project's events are read by its members as they are when read: once Mia
    has left "Shared by otto", none of its events is hers but those about her own
    membership (the removal tells her that she left)."""
    personal = await in_thread(lambda: personal_project_of(member).pk)()
    shared = assigned_task.project_id

    def remove_mia_then_rename() -> None:
        # Clears her assignment (a task event of the project), then removes her.
        member_remove(actor=other_member, project_id=shared, user_id=member.pk)
        task_update(actor=other_member, task_id=assigned_task.pk, data={"title": "Not for Mia"})

    await in_thread(remove_mia_then_rename)()
    expected = await in_thread(event_ids)(
        Q(type=project_events.CREATED, project_id=personal)
        | Q(
            type__in=[project_events.MEMBER_ADDED, project_events.MEMBER_REMOVED],
            project_id=shared,
        )
        # Her notification of the assignment, which named her when she was a member.
        | Q(type=NOTIFIED, owner_id=member.pk)
    )
    # project.created and the task's created, unassigned and renamed events.
    withheld = sorted(set(await in_thread(project_event_ids)(shared)) - set(expected))
    assert len(withheld) == 4

    async with open_sockets(member_client.tokens) as (ws,):
        sent, resumed = await resume(ws, 0)

        assert [message["event"] for message in sent] == expected
        assert [message["type"] for message in sent] == [
            project_events.CREATED,
            project_events.MEMBER_ADDED,
            NOTIFIED,
            project_events.MEMBER_REMOVED,
        ]
        removal = sent[-1]
        assert removal["project"]["id"] == shared
        assert removal["project"]["member"]["user"] == {"id": member.pk, "username": "mia"}
        assert removal["changes"] == {"role": ["member", None]}
        assert removal["actor"] == other_member.pk
        assert resumed == {
            "type": "resumed",
            "after": 0,
            "last": expected[-1],
            "count": 4,
            "complete": True,
        }
        assert await in_thread(feed_items)(member_client) == []


async def test_a_managers_resume_includes_everyones_events(history, manager_client):
    async with open_sockets(manager_client.tokens) as (ws,):
        sent, resumed = await resume(ws, 0)

        assert [message["event"] for message in sent] == history["manon"]
        assert resumed["count"] == len(history["manon"])
        assert resumed["last"] == history["manon"][-1]
        assert resumed["complete"] is True
        assert_same_as_feed(sent, await in_thread(feed_items)(manager_client))


async def test_events_committed_during_a_resume_arrive_once_and_none_is_missed(
    history, member, task, member_client, monkeypatch
):
    """One change commits while the resume reads (it falls in the range being read, and
    also arrives live), one right after the last read (it only arrives live)."""
    read = consumers.missed_events
    made: dict[str, int] = {}

    def change(name: str) -> None:
        task_update(actor=member, task_id=task.pk, data={"title": name})
        made[name] = task_event_ids(task.pk)[-1]

    def reading_while_changes_commit(user: User, after: int, limit: int) -> list[dict[str, Any]]:
        if "during" not in made:
            change("during")
        batch = read(user, after, limit)
        if len(batch) < limit:
            change("after")
        return batch

    monkeypatch.setattr(consumers, "missed_events", reading_while_changes_commit)

    async with open_sockets(member_client.tokens) as (ws,):
        sent, resumed = await resume(ws, 0)

        assert [message["event"] for message in sent] == [*history["mia"], made["during"]]
        assert resumed == {
            "type": "resumed",
            "after": 0,
            "last": made["during"],
            "count": len(history["mia"]) + 1,
            "complete": True,
        }
        following = await receive(ws)
        assert following["event"] == made["after"]
        assert following["changes"] == {"title": ["during", "after"]}
        await assert_silent(ws)


def bulk_events(tasks: list[Task], count: int) -> dict[int, list[int]]:
    """`count` "updated" events of each task in turn, each in its task's project,
    fast; their ids by task."""
    snapshots = {task.pk: Event.objects.get(pk=task_event_ids(task.pk)[-1]).data for task in tasks}
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            subject_id=task.pk,
            type=events.UPDATED,
            actor_id=task.owner_id,
            changes={"description": [f"v{number}", f"v{number + 1}"]},
            data={**snapshots[task.pk], "description": f"v{number + 1}"},
            project_id=task.project_id,
            created_at=now,
        )
        for number in range(count * len(tasks))
        for task in [tasks[number % len(tasks)]]
    )
    return {
        task.pk: event_ids(subject_id=task.pk, type=events.UPDATED, project_id=task.project_id)
        for task in tasks
    }


async def test_a_resume_stops_after_1000_events_and_the_next_one_continues(
    member, task, others_task, member_client
):
    missed = 1100
    # Interleaved with as many events of Otto's project, which Mia does not read.
    ids = (await in_thread(bulk_events)([task, others_task], missed))[task.pk]
    assert len(ids) == missed
    visible = await in_thread(project_event_ids)(task.project_id)
    assert visible[-missed:] == ids

    async with open_sockets(member_client.tokens) as (ws,):
        sent, resumed = await resume(ws, 0)

        assert [message["event"] for message in sent] == visible[:RESUME_LIMIT]
        assert resumed == {
            "type": "resumed",
            "after": 0,
            "last": visible[RESUME_LIMIT - 1],
            "count": RESUME_LIMIT,
            "complete": False,
        }

        rest, resumed = await resume(ws, resumed["last"])

        assert [message["event"] for message in rest] == visible[RESUME_LIMIT:]
        assert resumed == {
            "type": "resumed",
            "after": visible[RESUME_LIMIT - 1],
            "last": visible[-1],
            "count": len(visible) - RESUME_LIMIT,
            "complete": True,
        }
        await assert_silent(ws)


async def test_a_resume_sends_at_most_1000_events_also_when_it_skips_some_sent_live(
    member, task, member_client
):
    async with open_sockets(member_client.tokens) as (ws,):
        live = []
        for title in ("Live one", "Live two"):
            await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": title})
            live.append((await receive(ws))["event"])
        # Missed events after the live ones, the live ones within the first 1000.
        await in_thread(bulk_events)([task], 1100)
        visible = await in_thread(project_event_ids)(task.project_id)
        assert visible.index(live[-1]) < RESUME_LIMIT

        sent, resumed = await resume(ws, 0)

        assert len(sent) <= RESUME_LIMIT
        assert resumed["complete"] is False
        assert resumed["count"] == len(sent)
        rest, resumed = await resume(ws, resumed["last"])
        assert resumed["complete"] is True
        delivered = [message["event"] for message in [*sent, *rest]]
        assert delivered == [event for event in visible if event not in live]


async def test_changes_made_concurrently_with_a_long_resume_are_each_sent_exactly_once(
    member, task, member_client
):
    """Commits interleave with the resume's database reads (batches of 200): each
    event arrives once, from the resume or live, and none is missing."""
    await in_thread(bulk_events)([task], 450)
    changes = 20

    async def keep_changing() -> None:
        for number in range(changes):
            await in_thread(task_update)(
                actor=member, task_id=task.pk, data={"title": f"Concurrent {number}"}
            )

    async with open_sockets(member_client.tokens) as (ws,):
        await send(ws, {"type": "resume", "after": 0})
        await asyncio.ensure_future(keep_changing())
        expected = await in_thread(project_event_ids)(task.project_id)
        # The project's creation, the task's, the bulk events, the changes.
        assert len(expected) == 2 + 450 + changes

        received: list[int] = []
        resumed = None
        while len(received) < len(expected) or resumed is None:
            message = await receive(ws)
            if message["type"] == "resumed":
                assert resumed is None
                resumed = message
                # Everything before it came from the resume itself.
                assert message["count"] == len(received)
            else:
                received.append(message["event"])

        assert sorted(received) == expected  # none missed
        assert len(set(received)) == len(received)  # none twice
        assert resumed["complete"] is True
        from_resume, live = received[: resumed["count"]], received[resumed["count"] :]
        assert from_resume == sorted(from_resume)
        assert live == sorted(live)
        await assert_silent(ws)


# --- bad messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param("{not json", "parse_error", id="not-json"),
        pytest.param("", "parse_error", id="empty"),
        pytest.param("   ", "parse_error", id="blank"),
        pytest.param("[1, 2]", "parse_error", id="array"),
        pytest.param('"ping"', "parse_error", id="string"),
        pytest.param("null", "parse_error", id="null"),
        pytest.param("42", "parse_error", id="number"),
        pytest.param("[" * 2000 + "]" * 2000, "parse_error", id="nested-past-the-stack"),
        pytest.param(
            '{"type": "ping", "x": ' + "[" * 40 + "]" * 40 + "}", "parse_error", id="nested-40"
        ),
        pytest.param('{"type": "\\ud800"}', "parse_error", id="lone-surrogate-escape"),
        pytest.param('{"type": "ping", "\\udfff": 1}', "parse_error", id="lone-surrogate-key"),
        pytest.param(
            b'{"type": "ping\\xff"}'.decode("utf-8", "surrogateescape"),
            "parse_error",
            id="invalid-utf-8-decoded-by-a-server",
        ),
        pytest.param('{"type": "ping", "n": NaN}', "parse_error", id="nan"),
        pytest.param('{"type": "ping", "n": -Infinity}', "parse_error", id="infinity"),
        pytest.param('{"type": "ping", "n": 1e999}', "parse_error", id="past-a-double"),
        pytest.param('{"type": "resume", "after": 1e400}', "parse_error", id="after-1e400"),
        pytest.param(
            '{"type": "resume", "after": -' + "9" * 4000 + "}",
            "validation_error",
            id="after-huge-negative",
        ),
        pytest.param('{"after": 0}', "validation_error", id="no-type"),
        pytest.param('{"type": 7}', "validation_error", id="number-type"),
        pytest.param('{"type": null}', "validation_error", id="null-type"),
        pytest.param('{"type": ["ping"]}', "validation_error", id="list-type"),
        pytest.param('{"type": "dance"}', "validation_error", id="unknown-type"),
        pytest.param('{"type": "PING"}', "validation_error", id="type-case"),
        pytest.param('{"type": "resume", "after": -1}', "validation_error", id="after-negative"),
        pytest.param('{"type": "resume", "after": "5"}', "validation_error", id="after-string"),
        pytest.param('{"type": "resume", "after": true}', "validation_error", id="after-true"),
        pytest.param('{"type": "resume", "after": false}', "validation_error", id="after-false"),
        pytest.param('{"type": "resume", "after": 1.5}', "validation_error", id="after-float"),
        pytest.param('{"type": "resume", "after": 5.0}', "validation_error", id="after-5.0"),
        pytest.param('{"type": "resume", "after": null}', "validation_error", id="after-null"),
        pytest.param('{"type": "resume", "after": 1e2}', "validation_error", id="after-1e2"),
        pytest.param('{"type": "resume", "after": [1]}', "validation_error", id="after-list"),
        pytest.param(
            '{"type": "resume", "after": {"id": 1}}', "validation_error", id="after-object"
        ),
        pytest.param('{"type": "resume", "after": "9" }', "validation_error", id="after-digits"),
        pytest.param('{"type": "resume"}', "validation_error", id="after-missing"),
    ],
)
async def test_a_bad_message_gets_an_error_and_the_socket_stays_open(member_client, frame, code):
    async with open_sockets(member_client.tokens) as (ws,):
        # (`send_to` refuses an empty frame.)
        await ws.send_input({"type": "websocket.receive", "text": frame})

        error = await next_of_type(ws, "error")
        assert error_code(error) == code
        await assert_still_open(ws)


async def test_an_error_about_after_names_the_field(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await send(ws, {"type": "resume", "after": -1})

        error = await next_of_type(ws, "error")
        assert error_code(error) == "validation_error"
        assert list(error["error"]["fields"]) == ["after"]


async def test_a_second_auth_message_is_refused_and_the_socket_stays_open(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await send(ws, {"type": "auth", "token": member_client.tokens["access"]})

        error = await next_of_type(ws, "error")
        assert error_code(error) == "validation_error"
        message = 'This socket is already authenticated: send "ping" or "resume".'
        assert error["error"] == {
            "code": "validation_error",
            "message": message,
            "fields": {"type": [message]},
        }
        await assert_still_open(ws)


async def test_an_unknown_type_names_the_types_there_are(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await send(ws, {"type": "dance"})

        error = await next_of_type(ws, "error")
        message = 'Unknown message type "dance": the types are "ping" and "resume".'
        assert error["error"] == {
            "code": "validation_error",
            "message": message,
            "fields": {"type": [message]},
        }


async def test_a_binary_frame_gets_an_error_and_the_socket_stays_open(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await ws.send_to(bytes_data=json.dumps({"type": "ping"}).encode())

        error = await next_of_type(ws, "error")
        assert error_code(error) == "parse_error"
        assert error["error"]["message"] == (
            "The message is a binary frame: send JSON in text frames."
        )
        await assert_still_open(ws)


async def test_errors_do_not_stop_events_from_arriving(member, task, member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await ws.send_to(text_data="{oops")
        assert error_code(await next_of_type(ws, "error")) == "parse_error"

        await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": "Still live"})
        message = await receive(ws)
        assert message["type"] == "task.updated"
        assert message["changes"] == {"title": ["Mia's task", "Still live"]}


def padded_ping(chars: int, pad: str = "x") -> str:
    """A ping of exactly `chars` characters."""
    frame = json.dumps({"type": "ping", "pad": ""}, ensure_ascii=False)
    frame = json.dumps({"type": "ping", "pad": pad * (chars - len(frame))}, ensure_ascii=False)
    assert len(frame) == chars
    return frame


@pytest.mark.parametrize("pad", ["x", "é"], ids=["ascii", "two-byte"])
async def test_a_message_of_4096_characters_is_read(member_client, pad):
    async with open_sockets(member_client.tokens) as (ws,):
        await ws.send_to(text_data=padded_ping(MAX_CHARS, pad))
        assert await receive(ws) == {"type": "pong"}


@pytest.mark.parametrize(
    "frame",
    [padded_ping(MAX_CHARS + 1), "x" * (MAX_CHARS + 1), padded_ping(100_000)],
    ids=["ping", "not-json", "large"],
)
async def test_a_message_over_4096_characters_gets_an_error_then_close_4413(member_client, frame):
    async with open_sockets(member_client.tokens) as (ws,):
        await ws.send_to(text_data=frame)

        error = await next_of_type(ws, "error")
        assert error_code(error) == "payload_too_large"
        assert error["error"]["message"] == (
            "The message is too large: a message is at most 4096 characters."
        )
        assert await ws.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4413}


async def test_a_binary_frame_over_4096_bytes_gets_an_error_then_close_4413(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await ws.send_to(bytes_data=b"x" * (MAX_CHARS + 1))

        error = await next_of_type(ws, "error")
        assert error_code(error) == "payload_too_large"
        assert await ws.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4413}


async def test_nothing_is_answered_after_the_close_for_a_too_large_message(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        await ws.send_to(text_data="x" * (MAX_CHARS + 1))
        assert error_code(await next_of_type(ws, "error")) == "payload_too_large"
        assert (await ws.receive_output(TIMEOUT))["code"] == 4413

        await send(ws, {"type": "ping"})
        await assert_silent(ws)


# --- flooding -----------------------------------------------------------------------


async def test_a_burst_past_the_message_budget_gets_throttled_errors(member_client, monkeypatch):
    # A slow refill, so that a busy machine handling the burst slowly still runs out.
    monkeypatch.setattr(consumers, "MESSAGE_RATE", 1.0)
    burst = consumers.MESSAGE_BURST
    async with open_sockets(member_client.tokens) as (ws,):
        for _ in range(burst + 3):
            await send(ws, {"type": "ping"})

        answers = [await receive(ws) for _ in range(burst + 3)]

        # A budget refills while the burst is read, so a pong or two may come late.
        pongs = [a for a in answers if a == {"type": "pong"}]
        limited = [a for a in answers if a.get("type") == "error"]
        assert len(pongs) + len(limited) == burst + 3
        assert burst <= len(pongs) < burst + 3
        assert limited and all(error_code(a) == "throttled" for a in limited)

        # The budget refills: after a pause the socket is served again.
        await asyncio.sleep(2 / consumers.MESSAGE_RATE)
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_a_client_that_keeps_flooding_is_closed_with_4429(member_client):
    async with open_sockets(member_client.tokens) as (ws,):
        for _ in range(3 * consumers.MESSAGE_BURST + 5):
            await send(ws, {"type": "resume", "after": 0})

        while True:
            output = await ws.receive_output(TIMEOUT)
            if output["type"] == "websocket.close":
                break
        assert output == {"type": "websocket.close", "code": 4429}


async def test_a_flood_gets_a_bounded_number_of_answers_then_close_4429(member_client, monkeypatch):
    # Neither budget refills during the test, however slow the machine.
    monkeypatch.setattr(consumers, "MESSAGE_RATE", 0.001)
    monkeypatch.setattr(consumers, "DROPS_FORGIVEN", 0.001)
    burst = consumers.MESSAGE_BURST
    async with open_sockets(member_client.tokens) as (ws,):
        for _ in range(2000):
            await send(ws, {"type": "ping"})

        answers = []
        while (output := await ws.receive_output(TIMEOUT))["type"] != "websocket.close":
            answers.append(json.loads(output["text"]))
        assert output["code"] == 4429
        assert answers[:burst] == [{"type": "pong"}] * burst
        assert [error_code(a) for a in answers[burst:]] == ["throttled"] * burst
        await assert_silent(ws)
