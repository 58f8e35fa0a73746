"""Operators manage comments in the Django admin through the services: each change
records its event and recomputes mentions; an archived project is an error message,
not a 500."""

import pytest
from django.contrib import messages
from django.test import Client

from activity.models import Event
from comments.models import Comment
from comments.services import comment_create
from tests.factories import UserFactory
from tests.projects.helpers import archive

pytestmark = pytest.mark.django_db

COMMENTS = "/admin/comments/comment/"
NOTIFICATIONS = "/admin/notifications/notification/"


@pytest.fixture
def operator():
    return UserFactory(username="root", email="root@example.com", superuser=True)


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def test_an_operator_adds_a_comment_through_the_service(
    bed, operator, member, operator_client, django_capture_on_commit_callbacks
):
    response = operator_client.post(f"{COMMENTS}add/", {"task": bed.pk, "body": "Checked by @mia"})

    assert response.status_code == 302, response.content
    comment = Comment.objects.get()
    assert (comment.task_id, comment.author_id, comment.body) == (
        bed.pk,
        operator.pk,
        "Checked by @mia",
    )
    assert [user.pk for user in comment.mentions.all()] == [member.pk]
    event = Event.objects.get(type="comment.created")
    assert (event.subject_id, event.project_id, event.actor_id) == (
        comment.pk,
        bed.project_id,
        operator.pk,
    )


def test_an_operator_changes_and_deletes_a_comment_through_the_services(
    bed, other_member, operator, operator_client
):
    comment = comment_create(actor=other_member, task=bed, body="Frist")

    response = operator_client.post(f"{COMMENTS}{comment.pk}/change/", {"body": "First"})

    assert response.status_code == 302, response.content
    comment.refresh_from_db()
    assert (comment.body, comment.edited, comment.author_id) == ("First", True, other_member.pk)
    assert Event.objects.get(type="comment.updated").changes["body"] == ["Frist", "First"]

    response = operator_client.post(f"{COMMENTS}{comment.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content
    assert not Comment.objects.exists()
    assert Event.objects.get(type="comment.deleted").actor_id == operator.pk


def test_the_admin_refuses_a_blank_or_too_long_body(bed, operator_client):
    for body in ("   ", "x" * 10001):
        response = operator_client.post(f"{COMMENTS}add/", {"task": bed.pk, "body": body})
        assert response.status_code == 200  # the form again, with its error
        assert response.context["adminform"].form.errors["body"]
    assert not Comment.objects.exists()


def test_a_comment_on_an_archived_projects_task_is_an_error_message(
    project, bed, other_member, operator_client
):
    comment = comment_create(actor=other_member, task=bed, body="Before")
    archive(project)

    for url, form in [
        (f"{COMMENTS}add/", {"task": bed.pk, "body": "After"}),
        (f"{COMMENTS}{comment.pk}/change/", {"body": "After"}),
    ]:
        response = operator_client.post(url, form, follow=True)
        assert response.status_code == 200
        assert [(m.level, str(m)) for m in response.context["messages"]] == [
            (messages.ERROR, "The project is archived and read-only: an admin may unarchive it.")
        ]
    assert list(Comment.objects.values_list("body", flat=True)) == ["Before"]


def test_the_lists_show_comments_and_notifications(bed, other_member, member, operator_client):
    comment_create(actor=other_member, task=bed, body="Hello @mia, this is a long comment " * 5)

    response = operator_client.get(COMMENTS, {"q": "hello"})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1

    response = operator_client.get(NOTIFICATIONS)
    assert response.status_code == 200
    (notification,) = response.context["cl"].result_list
    assert (notification.user_id, notification.kind) == (member.pk, "mentioned")
    assert operator_client.get(f"{NOTIFICATIONS}add/").status_code == 403
