"""`@username` in a comment's body mentions a member of the task's project (any role),
whatever the case; a name of anyone else is text, not an error. An edit's mentions
are those of its new body."""

import pytest

from comments.mentions import members_named, mentioned_names
from tests.comments.helpers import comment_url, comments_url, post_comment
from tests.factories import UserFactory
from tests.projects.helpers import join

pytestmark = pytest.mark.django_db


def test_a_mention_of_a_member_is_recorded(bed, member, viewer, other_member_client):
    comment = post_comment(other_member_client, bed, "@mia and @vera: have a look")

    assert comment["mentions"] == sorted([member.pk, viewer.pk])
    assert other_member_client.get(comment_url(comment)).json()["mentions"] == comment["mentions"]


def test_a_mention_of_someone_outside_the_project_is_left_as_text(
    bed, outsider, other_member_client
):
    response = other_member_client.post(
        comments_url(bed), {"body": "@oscar, @nobody-at-all: see this"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["mentions"] == []
    assert response.json()["body"] == "@oscar, @nobody-at-all: see this"


@pytest.mark.parametrize(
    "body",
    ["@MIA look", "(@Mia)", "Thanks @mia.", "@mia, @mia!", "Done @mia-", "first line\n@mia"],
)
def test_a_mention_ignores_case_and_the_punctuation_around_it(
    bed, member, other_member_client, body
):
    assert post_comment(other_member_client, bed, body)["mentions"] == [member.pk]


@pytest.mark.parametrize(
    "body", ["mail mia@example.com", "mia", "@ mia", "x@mia", "@@mia", "#mia", "@mi"]
)
def test_text_that_is_no_mention_mentions_no_one(bed, other_member_client, body):
    assert post_comment(other_member_client, bed, body)["mentions"] == []


def test_a_username_with_dots_and_at_signs_is_mentioned_whole(project, bed, other_member_client):
    dotted = UserFactory(username="j.doe@home", email="jdoe@example.com")
    plain = UserFactory(username="j", email="j@example.com")
    join(project, dotted)
    join(project, plain)

    comment = post_comment(other_member_client, bed, "cc @j.doe@home.")

    assert comment["mentions"] == [dotted.pk]


def test_an_edit_takes_the_mentions_of_the_new_body(bed, member, viewer, other_member_client):
    comment = post_comment(other_member_client, bed, "@mia")

    edited = other_member_client.patch(
        comment_url(comment), {"body": "@vera instead"}, format="json"
    ).json()

    assert edited["mentions"] == [viewer.pk]


def test_the_names_of_a_body_are_its_at_runs_with_and_without_trailing_punctuation():
    assert mentioned_names("Hi @Mia, @otto. and @mia! x@y @j.doe@home.") == [
        ("mia", "mia"),
        ("otto.", "otto"),
        ("j.doe@home.", "j.doe@home"),
    ]


def test_names_are_compared_after_nfkc_and_case_folding():
    # Fullwidth letters are the letters (usernames are NFKC-normalized on creation);
    # a German sharp s folds to "ss".
    names = mentioned_names("@\uff2d\uff29\uff21 and @STRASSE")

    assert members_named(names, [(1, "mia"), (2, "straße"), (3, "otto")]) == {1, 2}


def test_a_username_ending_in_punctuation_is_tried_before_the_name_without_it(
    project, bed, other_member_client
):
    bob = UserFactory(username="bob", email="bob@example.com")
    bob_dash = UserFactory(username="bob-", email="bobdash@example.com")
    join(project, bob)
    join(project, bob_dash)

    assert post_comment(other_member_client, bed, "@bob-")["mentions"] == [bob_dash.pk]
    assert post_comment(other_member_client, bed, "@bob.")["mentions"] == [bob.pk]
