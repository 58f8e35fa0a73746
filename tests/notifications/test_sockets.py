"""/ws/tasks/ and collaboration: the members of a project receive its comments'
events (`comment.created`, with the comment under `comment`), a user receives their
own notifications (`notification.created`) and nobody else's, superusers included."""

from typing import Any

import pytest
from channels.db import database_sync_to_async

from activity.models import Event
from tests.comments.helpers import comments_url
from tests.factories import UserFactory
from tests.helpers import TASKS_URL, parse_dt
from tests.realtime.sockets import assert_all_silent, open_sockets, receive

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

EVENT_FIELDS = {"type", "event", "changes", "actor", "at"}

in_thread = database_sync_to_async


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()


async def test_a_comment_reaches_the_projects_members_and_its_notifications_their_users(
    bed,
    sam,
    member,
    other_member,
    sam_client,
    member_client,
    other_member_client,
    viewer_client,
    outsider_client,
    client_for,
):
    root = await in_thread(UserFactory)(username="root", email="root@example.com", superuser=True)
    root_client = await in_thread(client_for)(root)
    async with open_sockets(
        sam_client.tokens,
        member_client.tokens,
        other_member_client.tokens,
        viewer_client.tokens,
        outsider_client.tokens,
        root_client.tokens,
    ) as (author_ws, assignee_ws, owner_ws, viewer_ws, outsider_ws, root_ws):
        comment = ok(
            await in_thread(sam_client.post)(
                comments_url(bed), {"body": "@mia please check"}, format="json"
            ),
            201,
        )

        # Everyone who sees the task (a superuser too) gets the comment's event.
        readers = (author_ws, assignee_ws, owner_ws, viewer_ws, root_ws)
        messages = [await receive(ws) for ws in readers]
        for message in messages:
            assert message == messages[0]
        message = messages[0]
        assert set(message) == EVENT_FIELDS | {"comment"}
        assert message["type"] == "comment.created"
        assert message["comment"] == comment
        assert message["actor"] == sam.pk
        assert message["changes"]["body"] == [None, "@mia please check"]

        # Then Mia is told she was mentioned, Otto (the owner) that Sam commented.
        mentioned = await receive(assignee_ws)
        commented = await receive(owner_ws)
        for notification, user, kind in (
            (mentioned, member, "mentioned"),
            (commented, other_member, "commented"),
        ):
            assert set(notification) == EVENT_FIELDS | {"notification"}
            assert notification["type"] == "notification.created"
            assert notification["changes"] == {}
            assert notification["actor"] == sam.pk
            assert notification["event"] > message["event"]
            shown = notification["notification"]
            assert (shown["kind"], shown["task"], shown["comment"]) == (
                kind,
                bed.pk,
                comment["id"],
            )
            assert shown["actor"] == {"id": sam.pk, "username": "sam"}
            row = await in_thread(Event.objects.get)(pk=notification["event"])
            assert (row.owner_id, row.project_id) == (user.pk, None)
            assert parse_dt(notification["at"]) == row.created_at

        # Nobody else gets a notification: not the author, the viewer, the outsider,
        # nor the superuser who reads every comment.
        await assert_all_silent(*readers, outsider_ws)


async def test_an_assignment_reaches_the_assignee_alone_as_a_notification(
    project, member, other_member, member_client, other_member_client, manager_client
):
    async with open_sockets(
        member_client.tokens, other_member_client.tokens, manager_client.tokens
    ) as (actor_ws, assignee_ws, manager_ws):
        task = ok(
            await in_thread(member_client.post)(
                TASKS_URL,
                {"title": "Water", "project": project.pk, "assignee": other_member.pk},
                format="json",
            ),
            201,
        )

        for ws in (actor_ws, assignee_ws, manager_ws):
            assert (await receive(ws))["type"] == "task.created"
        notification = await receive(assignee_ws)
        assert notification["type"] == "notification.created"
        assert notification["actor"] == member.pk
        shown = notification["notification"]
        assert (shown["kind"], shown["task"], shown["comment"]) == ("assigned", task["id"], None)
        await assert_all_silent(actor_ws, assignee_ws, manager_ws)
