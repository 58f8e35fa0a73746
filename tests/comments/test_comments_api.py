"""/tasks/{id}/comments/ and /comments/{id}/: who reads, writes, edits and deletes a
comment, with what body, and what a comment is (and is not) a change of."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activity.models import Event
from comments.models import Comment
from projects.services import member_remove
from tests.comments.helpers import (
    COMMENT_SHAPE,
    comment_url,
    comments_url,
    post_comment,
)
from tests.factories import UserFactory
from tests.helpers import PAGE_SHAPE, assert_error, assert_field_error, page, parse_dt
from tests.projects.helpers import archive, join

pytestmark = pytest.mark.django_db

MAX_ID = 2**63 - 1


# --- reading and writing ----------------------------------------------------------------


def test_a_member_comments_and_every_member_reads_the_comments_oldest_first(
    bed, other_member, member_client, other_member_client, viewer_client
):
    first = post_comment(other_member_client, bed, "Dug half of it.")
    second = post_comment(member_client, bed, "  Thanks!\n\nIndented text stays.  ")

    assert set(first) == COMMENT_SHAPE
    assert first["task"] == bed.pk
    assert first["author"] == {"id": other_member.pk, "username": "otto"}
    assert first["body"] == "Dug half of it."
    assert first["mentions"] == []
    assert first["edited"] is False
    assert first["created_at"] == first["updated_at"]
    # Kept as written, spaces and line breaks included.
    assert second["body"] == "  Thanks!\n\nIndented text stays.  "
    for client in (member_client, other_member_client, viewer_client):
        body = page(client.get(comments_url(bed)))
        assert body["count"] == 2
        assert body["results"] == [first, second]
        assert client.get(comment_url(first)).json() == first


def test_comments_are_paginated(bed, member_client):
    for n in range(3):
        post_comment(member_client, bed, f"Note {n}")

    body = page(member_client.get(comments_url(bed), {"limit": 2, "offset": 1}))

    assert set(body) == PAGE_SHAPE
    assert body["count"] == 3
    assert [c["body"] for c in body["results"]] == ["Note 1", "Note 2"]


def test_a_viewer_reads_but_cannot_comment(bed, viewer_client):
    response = viewer_client.post(comments_url(bed), {"body": "Me too"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert not Comment.objects.exists()


def test_someone_outside_the_project_gets_404_everywhere(bed, other_member_client, outsider_client):
    comment = post_comment(other_member_client, bed, "Private")

    assert_error(outsider_client.get(comments_url(bed)), 404, "not_found")
    assert_error(
        outsider_client.post(comments_url(bed), {"body": "Hi"}, format="json"), 404, "not_found"
    )
    assert_error(outsider_client.get(comment_url(comment)), 404, "not_found")
    assert_error(
        outsider_client.patch(comment_url(comment), {"body": "Mine"}, format="json"),
        404,
        "not_found",
    )
    assert_error(outsider_client.delete(comment_url(comment)), 404, "not_found")
    assert Comment.objects.get().body == "Private"


def test_a_member_who_leaves_no_longer_sees_the_comments(
    project, bed, member, other_member, other_member_client
):
    comment = post_comment(other_member_client, bed, "Before I go")
    member_remove(actor=member, project_id=project.pk, user_id=other_member.pk)

    assert_error(other_member_client.get(comment_url(comment)), 404, "not_found")
    assert_error(other_member_client.get(comments_url(bed)), 404, "not_found")


def test_anonymous_requests_are_401(api_client, bed, other_member_client):
    comment = post_comment(other_member_client, bed, "Hello")

    assert_error(api_client.get(comments_url(bed)), 401, "not_authenticated")
    assert_error(
        api_client.post(comments_url(bed), {"body": "x"}, format="json"), 401, "not_authenticated"
    )
    assert_error(api_client.get(comment_url(comment)), 401, "not_authenticated")
    assert_error(api_client.delete(comment_url(comment)), 401, "not_authenticated")


def test_site_managers_read_and_comment_on_every_task(
    bed, manager, manager_client, other_member_client
):
    post_comment(other_member_client, bed, "From inside")

    comment = post_comment(manager_client, bed, "From the site's managers")

    assert comment["author"] == {"id": manager.pk, "username": "manon"}
    assert len(page(manager_client.get(comments_url(bed)))["results"]) == 2


def test_ids_that_no_row_can_have_are_404(member_client, bed):
    for url in (
        comments_url(MAX_ID + 1),
        comment_url(MAX_ID + 1),
        comment_url("9" * 40),
        comments_url(MAX_ID),
    ):
        assert_error(member_client.get(url), 404, "not_found")


def test_an_unknown_query_parameter_is_400(bed, member_client):
    error = assert_error(
        member_client.get(comments_url(bed), {"sort": "new"}), 400, "validation_error"
    )

    assert set(error["fields"]) == {"sort"}


# --- the body ---------------------------------------------------------------------------


def test_a_body_of_10000_characters_is_taken_and_one_more_is_refused(bed, member_client):
    long = "x" * 10000
    assert post_comment(member_client, bed, long)["body"] == long

    response = member_client.post(comments_url(bed), {"body": long + "y"}, format="json")

    error = assert_field_error(response, "body")
    assert "10000" in error["fields"]["body"][0]
    assert Comment.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": " \n\t\u3000"}, "body"),
        ({}, "body"),
        ({"body": None}, "body"),
        ({"body": 12}, "body"),
        ({"body": "a\x00b"}, "body"),
        ({"body": "Fine", "pinned": True}, "pinned"),
        ({"body": "Fine", "author": 1}, "author"),
    ],
    ids=["empty", "spaces", "missing", "null", "number", "nul", "unknown-field", "read-only"],
)
def test_a_bad_body_is_400_naming_the_field(bed, member_client, body, field):
    response = member_client.post(comments_url(bed), body, format="json")

    assert_field_error(response, field)
    assert not Comment.objects.exists()


def test_every_wrong_field_is_named_in_one_answer(bed, member_client):
    response = member_client.post(comments_url(bed), {"body": "", "color": "red"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"body", "color"}


# --- editing ----------------------------------------------------------------------------


def test_the_author_edits_the_body_and_the_comment_is_marked_edited(bed, other_member_client):
    comment = post_comment(other_member_client, bed, "Dug hlaf")

    response = other_member_client.patch(comment_url(comment), {"body": "Dug half"}, format="json")

    assert response.status_code == 200, response.content
    edited = response.json()
    assert edited["body"] == "Dug half"
    assert edited["edited"] is True
    assert parse_dt(edited["updated_at"]) > parse_dt(comment["updated_at"])
    assert edited["created_at"] == comment["created_at"]
    assert other_member_client.get(comment_url(comment)).json() == edited


def test_sending_the_same_body_again_changes_nothing(bed, other_member_client):
    comment = post_comment(other_member_client, bed, "Same")
    events = Event.objects.count()

    response = other_member_client.patch(comment_url(comment), {"body": "Same"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == comment
    assert response.json()["edited"] is False
    assert Event.objects.count() == events


def test_a_patch_needs_the_body(bed, other_member_client):
    comment = post_comment(other_member_client, bed, "Kept")

    assert_field_error(other_member_client.patch(comment_url(comment), {}, format="json"), "body")
    assert Comment.objects.get().body == "Kept"


@pytest.mark.parametrize("editor", ["project_admin", "viewer", "site_admin"])
def test_only_the_author_edits_a_comment(
    bed, other_member_client, member_client, viewer_client, admin_client, editor
):
    comment = post_comment(other_member_client, bed, "Otto's words")
    client = {
        "project_admin": member_client,
        "viewer": viewer_client,
        "site_admin": admin_client,
    }[editor]

    response = client.patch(comment_url(comment), {"body": "Not his words"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert Comment.objects.get().body == "Otto's words"


def test_an_author_made_a_viewer_no_longer_edits_or_deletes(
    project, bed, member, other_member, other_member_client
):
    from projects.services import member_set_role

    comment = post_comment(other_member_client, bed, "Written as a member")
    member_set_role(actor=member, project_id=project.pk, user_id=other_member.pk, role="viewer")

    assert_error(
        other_member_client.patch(comment_url(comment), {"body": "x"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(other_member_client.delete(comment_url(comment)), 403, "permission_denied")


# --- deleting ---------------------------------------------------------------------------


def test_the_author_deletes_their_comment(bed, other_member_client):
    comment = post_comment(other_member_client, bed, "Oops")

    response = other_member_client.delete(comment_url(comment))

    assert response.status_code == 204
    assert not Comment.objects.exists()
    assert_error(other_member_client.get(comment_url(comment)), 404, "not_found")


def test_a_project_admin_deletes_anyones_comment(bed, member_client, other_member_client):
    comment = post_comment(other_member_client, bed, "Off topic")

    assert member_client.delete(comment_url(comment)).status_code == 204
    assert not Comment.objects.exists()


def test_a_site_admin_deletes_any_comment(bed, admin_client, other_member_client):
    comment = post_comment(other_member_client, bed, "Spam")

    assert admin_client.delete(comment_url(comment)).status_code == 204
    assert not Comment.objects.exists()


@pytest.mark.parametrize("deleter", ["member", "viewer", "site_manager"])
def test_others_cannot_delete_a_comment(
    bed, other_member_client, member_client, viewer_client, manager_client, deleter
):
    # Mia's comment: Otto is only a member of the project.
    comment = post_comment(member_client, bed, "The admin's comment")
    client = {
        "member": other_member_client,
        "viewer": viewer_client,
        "site_manager": manager_client,
    }[deleter]

    assert_error(client.delete(comment_url(comment)), 403, "permission_denied")
    assert Comment.objects.filter(pk=comment["id"]).exists()


def test_deleting_the_task_deletes_its_comments(bed, other_member_client, member_client):
    post_comment(other_member_client, bed, "Gone with the task")

    assert member_client.delete(f"/api/v1/tasks/{bed.pk}/").status_code == 204
    assert not Comment.objects.exists()


# --- archived projects -------------------------------------------------------------------


def test_an_archived_projects_comments_are_read_only(
    project, bed, member_client, other_member_client
):
    comment = post_comment(other_member_client, bed, "Before the archive")
    archive(project)

    assert_error(
        other_member_client.post(comments_url(bed), {"body": "After"}, format="json"),
        409,
        "project_archived",
    )
    assert_error(
        other_member_client.patch(comment_url(comment), {"body": "After"}, format="json"),
        409,
        "project_archived",
    )
    assert_error(member_client.delete(comment_url(comment)), 409, "project_archived")
    assert page(member_client.get(comments_url(bed)))["results"] == [comment]
    assert Comment.objects.get().body == "Before the archive"


# --- a comment is its own object ---------------------------------------------------------


def test_a_comment_records_its_events_and_leaves_the_task_as_it_was(
    project, bed, other_member, member, member_client, other_member_client
):
    task_before = member_client.get(f"/api/v1/tasks/{bed.pk}/").json()

    created = post_comment(other_member_client, bed, "Hello @mia")
    edited = other_member_client.patch(
        comment_url(created), {"body": "Hello all"}, format="json"
    ).json()
    assert member_client.delete(comment_url(created)).status_code == 204

    rows = list(Event.objects.filter(type__startswith="comment.").order_by("id"))
    assert [row.type for row in rows] == ["comment.created", "comment.updated", "comment.deleted"]
    assert {row.subject_id for row in rows} == {created["id"]}
    assert {row.project_id for row in rows} == {project.pk}
    assert [row.actor_id for row in rows] == [other_member.pk, other_member.pk, member.pk]
    assert [row.data for row in rows] == [created, edited, edited]
    assert rows[0].changes == {
        "body": [None, "Hello @mia"],
        "mentions": [None, [member.pk]],
        "edited": [None, False],
    }
    assert rows[1].changes == {
        "body": ["Hello @mia", "Hello all"],
        "mentions": [[member.pk], []],
        "edited": [False, True],
    }
    assert rows[2].changes == {
        "body": ["Hello all", None],
        "mentions": [[], None],
        "edited": [True, None],
    }
    # Neither the task's version nor its time of change moved; it has no event of it.
    assert member_client.get(f"/api/v1/tasks/{bed.pk}/").json() == task_before
    assert not Event.objects.filter(subject_id=bed.pk, type="task.updated").exists()


def test_a_deleted_authors_comments_stay_without_an_author(project, bed, member_client, client_for):
    zoe = UserFactory(username="zoe", email="zoe@example.com")
    join(project, zoe)
    comment = post_comment(client_for(zoe), bed, "Still here")

    zoe.delete()

    shown = member_client.get(comment_url(comment)).json()
    assert shown == {**comment, "author": None}


def test_a_page_of_comments_costs_the_same_queries_however_many_it_holds(
    bed, member_client, other_member_client
):
    def queries_for_the_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            page(member_client.get(comments_url(bed)))
        return len(queries.captured_queries)

    post_comment(other_member_client, bed, "@mia one")
    queries_for_the_list()  # the session's first request also fills its caches
    one = queries_for_the_list()
    for n in range(5):
        post_comment(other_member_client, bed, f"@mia @vera more {n}")

    assert queries_for_the_list() == one
