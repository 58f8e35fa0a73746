"""Notifications: a user is told when someone else assigns them a task, mentions them
in a comment, or comments on a task they own or are assigned; never of their own act,
once per comment, and only while they can see the task. /notifications/ lists them,
reads one or all."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from activity.models import Event
from comments.models import Comment
from comments.services import comment_create
from notifications.models import Notification
from projects.services import member_remove
from tasks.services import task_update
from tests.comments.helpers import comment_url, post_comment
from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, assert_error, page, parse_dt, task_url
from tests.notifications.helpers import (
    NOTIFICATION_SHAPE,
    NOTIFICATIONS_URL,
    READ_ALL_URL,
    kinds,
    notifications,
    read_url,
)

pytestmark = pytest.mark.django_db


# --- assigned ----------------------------------------------------------------------------


def test_a_user_assigned_a_new_task_by_someone_else_is_notified(
    project, member, other_member, member_client, other_member_client
):
    created = member_client.post(
        TASKS_URL, {"title": "Water", "project": project.pk, "assignee": other_member.pk}
    ).json()

    (notification,) = notifications(other_member_client)
    assert set(notification) == NOTIFICATION_SHAPE
    assert notification["kind"] == "assigned"
    assert notification["task"] == created["id"]
    assert notification["comment"] is None
    assert notification["actor"] == {"id": member.pk, "username": "mia"}
    assert notification["read_at"] is None
    assert parse_dt(notification["created_at"]) is not None
    assert notifications(member_client) == []


def test_assigning_oneself_notifies_no_one(project, member, member_client):
    member_client.post(TASKS_URL, {"title": "Mine", "project": project.pk, "assignee": member.pk})
    task = TaskFactory(owner=member, project=project)
    member_client.patch(task_url(task), {"assignee": member.pk})

    assert notifications(member_client) == []
    assert not Notification.objects.exists()


def test_a_user_a_task_is_reassigned_to_is_notified_and_other_changes_notify_no_one(
    project, sam, other_member, member_client, sam_client, other_member_client
):
    task = TaskFactory(owner=other_member, project=project, title="Weed")

    member_client.patch(task_url(task), {"title": "Weed the bed"})
    assert not Notification.objects.exists()

    member_client.patch(task_url(task), {"assignee": sam.pk})
    member_client.patch(task_url(task), {"status": "in_progress", "priority": "high"})

    assert kinds(sam_client) == [("assigned", task.pk, None)]
    # Otto owns it, but assignments tell the assignee only.
    assert notifications(other_member_client) == []


def test_unassigning_notifies_no_one(bed, member, other_member_client):
    before = Notification.objects.count()

    other_member_client.patch(task_url(bed), {"assignee": None})

    assert Notification.objects.count() == before


# --- mentioned and commented -------------------------------------------------------------


def test_the_members_a_comment_mentions_are_notified(
    bed, viewer, sam, other_member, sam_client, viewer_client, outsider_client
):
    comment = post_comment(sam_client, bed, "@vera, @oscar and @sam: look")

    assert kinds(viewer_client) == [("mentioned", bed.pk, comment["id"])]
    assert notifications(viewer_client)[0]["actor"] == {"id": sam.pk, "username": "sam"}
    # The author mentioning themselves, and a non-member, are told nothing.
    assert notifications(sam_client) == []
    assert notifications(outsider_client) == []


def test_the_owner_and_the_assignee_are_told_of_a_comment_by_someone_else(
    bed, sam_client, member_client, other_member_client
):
    comment = post_comment(sam_client, bed, "Half done")

    assert kinds(other_member_client) == [("commented", bed.pk, comment["id"])]
    # Mia was assigned the task when it was created.
    assert kinds(member_client) == [
        ("commented", bed.pk, comment["id"]),
        ("assigned", bed.pk, None),
    ]


def test_one_notification_per_user_and_comment_and_none_for_the_author(
    bed, member_client, other_member_client
):
    # Mia (the assignee) mentions Otto (the owner), twice.
    comment = post_comment(member_client, bed, "@otto @OTTO done")

    assert kinds(other_member_client) == [("mentioned", bed.pk, comment["id"])]
    assert [n["kind"] for n in notifications(member_client)] == ["assigned"]


def test_an_owner_and_assignee_in_one_is_told_once(project, sam, member, member_client, sam_client):
    task = TaskFactory(owner=member, project=project, assignee=member)

    comment = post_comment(sam_client, task, "Hi")

    assert kinds(member_client) == [("commented", task.pk, comment["id"])]


def test_an_edit_notifies_the_newly_mentioned_only_and_each_once(
    bed, viewer, sam, other_member_client, viewer_client, sam_client
):
    comment = post_comment(other_member_client, bed, "@vera")

    def edit(body: str) -> None:
        response = other_member_client.patch(comment_url(comment), {"body": body})
        assert response.status_code == 200, response.content

    edit("@vera and @sam")
    edit("@sam only")
    edit("@vera again, @sam")

    assert kinds(viewer_client) == [("mentioned", bed.pk, comment["id"])]
    assert kinds(sam_client) == [("mentioned", bed.pk, comment["id"])]


def test_a_former_member_is_told_nothing(
    project, bed, member, other_member, sam_client, other_member_client
):
    member_remove(actor=member, project_id=project.pk, user_id=other_member.pk)

    post_comment(sam_client, bed, "@otto, you own this")

    assert not Notification.objects.filter(user=other_member).exists()


def test_a_site_manager_who_owns_a_task_outside_their_projects_is_told_of_comments(
    project, manager, manager_client, sam_client
):
    # Managers change every task: they may create one in a project they are not in.
    task = manager_client.post(TASKS_URL, {"title": "Audit", "project": project.pk}).json()

    comment = post_comment(sam_client, task, "Audited")

    assert kinds(manager_client) == [("commented", task["id"], comment["id"])]


def test_a_deleted_comments_notifications_stay_without_it(
    bed, sam_client, member_client, other_member_client
):
    comment = post_comment(sam_client, bed, "Soon gone")

    assert sam_client.delete(comment_url(comment)).status_code == 204

    assert kinds(other_member_client) == [("commented", bed.pk, None)]


def test_notifications_are_written_with_their_cause_or_not_at_all(bed, sam):
    with pytest.raises(RuntimeError), transaction.atomic():
        comment_create(actor=sam, task=bed, body="@otto")
        assert Notification.objects.filter(kind="mentioned").count() == 1
        raise RuntimeError("the request failed later")

    assert not Comment.objects.exists()
    assert not Notification.objects.exclude(kind="assigned").exists()


# --- reading -----------------------------------------------------------------------------


def test_newest_first_and_paginated(project, member, other_member, member_client):
    tasks = [TaskFactory(owner=other_member, project=project) for _ in range(3)]
    for task in tasks:
        task_update(actor=other_member, task_id=task.pk, data={"assignee": member})

    body = page(member_client.get(NOTIFICATIONS_URL, {"limit": 2}))

    assert body["count"] == 3
    assert [n["task"] for n in body["results"]] == [tasks[2].pk, tasks[1].pk]


def test_marking_one_read_sets_its_time_once(bed, member_client):
    (notification,) = notifications(member_client)

    first = member_client.post(read_url(notification))
    second = member_client.post(read_url(notification))

    assert first.status_code == 200, first.content
    assert first.json()["id"] == notification["id"]
    assert first.json()["read_at"] is not None
    assert second.json() == first.json()
    assert notifications(member_client) == [first.json()]


def test_another_users_notification_is_404(bed, other_member_client, member_client):
    (notification,) = notifications(member_client)

    assert_error(other_member_client.post(read_url(notification)), 404, "not_found")
    assert_error(member_client.post(read_url(2**63)), 404, "not_found")
    assert_error(member_client.post(f"{NOTIFICATIONS_URL}{'9' * 30}/read/"), 404, "not_found")
    assert Notification.objects.get().read_at is None


def test_read_all_marks_every_unread_one_and_says_how_many(
    bed, sam_client, member_client, other_member_client
):
    post_comment(sam_client, bed, "One")
    post_comment(sam_client, bed, "Two")
    first = notifications(member_client)[-1]
    member_client.post(read_url(first))

    response = member_client.post(READ_ALL_URL)

    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 2}
    assert all(n["read_at"] is not None for n in notifications(member_client))
    assert member_client.post(READ_ALL_URL).json() == {"updated": 0}
    # Otto's are his.
    assert all(n["read_at"] is None for n in notifications(other_member_client))


def test_the_unread_filter(bed, sam_client, member_client):
    post_comment(sam_client, bed, "One")
    assigned, commented = sorted(notifications(member_client), key=lambda n: n["id"])
    member_client.post(read_url(assigned))

    assert [n["id"] for n in notifications(member_client, unread="true")] == [commented["id"]]
    assert [n["id"] for n in notifications(member_client, unread="false")] == [assigned["id"]]
    assert len(notifications(member_client)) == 2


@pytest.mark.parametrize("params", [{"unread": "yes"}, {"unread": ""}, {"seen": "true"}])
def test_a_bad_query_parameter_is_400(bed, member_client, params):
    error = assert_error(member_client.get(NOTIFICATIONS_URL, params), 400, "validation_error")

    assert set(error["fields"]) == set(params)


def test_the_notifications_of_a_project_one_left_are_hidden(
    project, bed, member, sam, sam_client, other_member, other_member_client
):
    post_comment(sam_client, bed, "Hi @otto")
    (notification,) = notifications(other_member_client)

    member_remove(actor=member, project_id=project.pk, user_id=other_member.pk)

    assert notifications(other_member_client) == []
    assert_error(other_member_client.post(read_url(notification)), 404, "not_found")
    assert other_member_client.post(READ_ALL_URL).json() == {"updated": 0}
    assert Notification.objects.get(pk=notification["id"]).read_at is None


def test_anonymous_requests_are_401(api_client, bed):
    notification = Notification.objects.get()

    assert_error(api_client.get(NOTIFICATIONS_URL), 401, "not_authenticated")
    assert_error(api_client.post(read_url(notification)), 401, "not_authenticated")
    assert_error(api_client.post(READ_ALL_URL), 401, "not_authenticated")


def test_a_page_of_notifications_costs_the_same_queries_however_many_it_holds(
    bed, sam_client, member_client
):
    def queries_for_the_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            notifications(member_client)
        return len(queries.captured_queries)

    queries_for_the_list()  # the session's first request also fills its caches
    one = queries_for_the_list()
    for n in range(5):
        post_comment(sam_client, bed, f"@mia {n}")

    assert len(notifications(member_client)) == 6
    assert queries_for_the_list() == one


def test_deleting_the_project_deletes_its_comments_and_notifications_but_not_their_events(
    project, bed, member, sam_client, member_client
):
    post_comment(sam_client, bed, "@mia @otto @vera")
    assert Notification.objects.count() == 4  # Mia's assignment, three mentions
    events = Event.objects.filter(type__in=["comment.created", "notification.created"])
    assert events.count() == 5

    assert member_client.delete(f"/api/v1/projects/{project.pk}/").status_code == 204

    assert not Comment.objects.exists()
    assert not Notification.objects.exists()
    assert events.count() == 5
