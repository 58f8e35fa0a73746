"""Idempotency-Key on POST tasks/: a retried create answers the first result, once."""

import pytest

from activity.models import Event
from tasks.models import Task
from tests.helpers import TASKS_URL, assert_error
from tests.tasks.helpers import assert_error_shape

pytestmark = pytest.mark.django_db

BODY = {"title": "Pay the rent", "priority": "high"}


def post(client, data, key=None):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(TASKS_URL, data, format="json", **headers)


def test_first_create_with_a_key_is_201_and_not_marked_as_replayed(member_client, member):
    response = post(member_client, BODY, key="key-1")

    assert response.status_code == 201, response.content
    assert response.json()["owner"] == member.pk
    assert response.get("Idempotent-Replayed", "false") != "true"
    assert Task.objects.count() == 1


def test_same_key_and_same_body_replays_the_first_response_without_a_second_task(
    member_client,
):
    first = post(member_client, BODY, key="key-1")
    second = post(member_client, BODY, key="key-1")

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["title"] == "Pay the rent"
    assert second.json()["version"] == 1
    assert Task.objects.count() == 1
    assert Event.objects.filter(type="task.created").count() == 1


def test_a_third_retry_still_answers_the_same_task(member_client):
    responses = [post(member_client, BODY, key="key-1") for _ in range(3)]

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Task.objects.count() == 1


def test_same_key_with_a_different_body_is_409_conflict_without_a_second_task(member_client):
    first = post(member_client, BODY, key="key-1")

    second = post(member_client, {**BODY, "priority": "low"}, key="key-1")

    assert first.status_code == 201, first.content
    assert_error(second, 409, "conflict")
    assert second.get("Idempotent-Replayed") != "true"
    assert Task.objects.count() == 1
    assert Task.objects.get().priority == "high"


def test_same_key_with_an_extra_field_is_a_different_body(member_client):
    assert post(member_client, BODY, key="key-1").status_code == 201

    response = post(member_client, {**BODY, "description": "and the bills"}, key="key-1")

    assert_error(response, 409, "conflict")
    assert Task.objects.count() == 1


def test_keys_are_per_user_so_another_user_gets_their_own_task(
    member_client, other_member_client, member, other_member
):
    mine = post(member_client, BODY, key="shared-key")

    theirs = post(other_member_client, BODY, key="shared-key")

    assert mine.status_code == 201, mine.content
    assert theirs.status_code == 201, theirs.content
    assert theirs.get("Idempotent-Replayed", "false") != "true"
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["owner"] == other_member.pk
    assert mine.json()["owner"] == member.pk
    assert Task.objects.count() == 2
    assert set(Task.objects.values_list("owner_id", flat=True)) == {member.pk, other_member.pk}


def test_another_user_reusing_a_key_with_a_different_body_is_not_a_conflict(
    member_client, other_member_client
):
    assert post(member_client, BODY, key="shared-key").status_code == 201

    response = post(other_member_client, {"title": "Something else"}, key="shared-key")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Something else"
    assert Task.objects.count() == 2


def test_different_keys_create_different_tasks(member_client):
    first = post(member_client, BODY, key="key-1")
    second = post(member_client, BODY, key="key-2")

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert first.json()["id"] != second.json()["id"]
    assert Task.objects.count() == 2


def test_without_a_key_every_post_creates_a_task(member_client):
    first = post(member_client, BODY)
    second = post(member_client, BODY)

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert first.json()["id"] != second.json()["id"]
    assert Task.objects.count() == 2


def test_key_longer_than_255_characters_is_400_and_creates_nothing(member_client):
    response = post(member_client, BODY, key="k" * 256)

    assert_error_shape(response, 400)
    assert not Task.objects.exists()


def test_key_of_exactly_255_characters_is_accepted_and_replays(member_client):
    first = post(member_client, BODY, key="k" * 255)
    second = post(member_client, BODY, key="k" * 255)

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    "key",
    ["", "clé-1", "tab\there", " leading-space", "trailing-space ", "bell\x07"],
    ids=["empty", "non-ascii", "tab", "leading-space", "trailing-space", "control"],
)
def test_a_key_outside_the_schemas_pattern_is_400_naming_the_header(member_client, key):
    # The schema: 1 to 255 visible ASCII characters, spaces inside only.
    response = post(member_client, BODY, key=key)

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["Idempotency-Key"]
    assert not Task.objects.exists()


def test_a_key_with_spaces_inside_is_accepted(member_client):
    response = post(member_client, BODY, key="retry of order 42")

    assert response.status_code == 201, response.content
