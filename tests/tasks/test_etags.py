"""ETag on task responses; If-None-Match -> 304; If-Match guards writes with 412."""

import pytest

from activity.models import Event
from tasks.models import Task
from tests.helpers import TASKS_URL, assert_error, task_url
from tests.tasks.helpers import assert_task_unchanged

pytestmark = pytest.mark.django_db


def etag_of(client, task) -> str:
    response = client.get(task_url(task))
    assert response.status_code == 200, response.content
    etag = response["ETag"]
    assert etag
    return etag


def test_get_answers_an_etag(member_client, task):
    response = member_client.get(task_url(task))

    assert response.status_code == 200, response.content
    assert response["ETag"]


def test_etag_is_stable_while_the_task_does_not_change(member_client, task):
    assert etag_of(member_client, task) == etag_of(member_client, task)


def test_create_answers_the_etag_that_a_get_then_answers(member_client):
    created = member_client.post(TASKS_URL, {"title": "Tagged"}, format="json")

    assert created.status_code == 201, created.content
    assert created["ETag"]
    assert etag_of(member_client, created.json()["id"]) == created["ETag"]


def test_if_none_match_with_the_current_etag_is_304_with_an_empty_body(member_client, task):
    etag = etag_of(member_client, task)

    response = member_client.get(task_url(task), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304, response.content
    assert response.content == b""
    assert response.get("ETag", etag) == etag


def test_if_none_match_with_a_stale_etag_is_200_with_the_new_task(member_client, task, committed):
    stale = etag_of(member_client, task)
    with committed():
        assert member_client.patch(task_url(task), {"title": "Changed"}).status_code == 200

    response = member_client.get(task_url(task), HTTP_IF_NONE_MATCH=stale)

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Changed"
    assert response["ETag"] != stale


def test_if_none_match_does_not_reveal_a_task_the_user_cannot_see(
    member_client, other_member_client, others_task
):
    etag = etag_of(other_member_client, others_task)

    response = member_client.get(task_url(others_task), HTTP_IF_NONE_MATCH=etag)

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_answers_a_new_etag_that_a_get_then_answers(member_client, task, method, committed):
    old = etag_of(member_client, task)

    with committed():
        response = getattr(member_client, method)(task_url(task), {"title": "New title"})

    assert response.status_code == 200, response.content
    assert response["ETag"]
    assert response["ETag"] != old
    assert etag_of(member_client, task) == response["ETag"]


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_the_current_etag_in_if_match_succeeds(member_client, task, method):
    etag = etag_of(member_client, task)

    response = getattr(member_client, method)(
        task_url(task), {"title": "Guarded"}, HTTP_IF_MATCH=etag
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Guarded"
    assert response.json()["version"] == 2
    assert response["ETag"] != etag


def test_the_etag_of_an_update_response_guards_the_next_update(member_client, task):
    first = member_client.patch(
        task_url(task), {"title": "One"}, HTTP_IF_MATCH=etag_of(member_client, task)
    )
    assert first.status_code == 200, first.content

    second = member_client.patch(task_url(task), {"title": "Two"}, HTTP_IF_MATCH=first["ETag"])

    assert second.status_code == 200, second.content
    assert second.json()["title"] == "Two"
    assert second.json()["version"] == 3


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_a_stale_etag_is_412_and_changes_nothing(
    member_client, task, method, committed
):
    stale = etag_of(member_client, task)
    with committed():
        assert member_client.patch(task_url(task), {"priority": "high"}).status_code == 200
    before = Task.objects.get(pk=task.pk)
    events_before = Event.objects.count()

    response = getattr(member_client, method)(
        task_url(task), {"title": "Lost update"}, HTTP_IF_MATCH=stale
    )

    assert_error(response, 412, "precondition_failed")
    assert_task_unchanged(before)
    assert before.version == 2
    assert Event.objects.count() == events_before
    body = member_client.get(task_url(task)).json()
    assert body["title"] == task.title
    assert body["priority"] == "high"
    assert body["version"] == 2


def test_update_with_a_made_up_etag_is_412(member_client, task):
    before = Task.objects.get(pk=task.pk)

    response = member_client.patch(
        task_url(task), {"title": "Nope"}, HTTP_IF_MATCH='"not-the-etag"'
    )

    assert_error(response, 412, "precondition_failed")
    assert_task_unchanged(before)


def test_another_users_change_makes_my_etag_stale(member_client, manager_client, task):
    mine = etag_of(member_client, task)
    assert manager_client.patch(task_url(task), {"status": "in_progress"}).status_code == 200

    response = member_client.patch(task_url(task), {"status": "completed"}, HTTP_IF_MATCH=mine)

    assert_error(response, 412, "precondition_failed")
    task.refresh_from_db()
    assert task.status == "in_progress"
    assert task.completed_at is None


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_if_match_star_succeeds(member_client, task, method):
    response = getattr(member_client, method)(
        task_url(task), {"title": "Any version"}, HTTP_IF_MATCH="*"
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Any version"
    assert response["ETag"]


def test_delete_with_the_current_etag_succeeds(member_client, task):
    etag = etag_of(member_client, task)

    response = member_client.delete(task_url(task), HTTP_IF_MATCH=etag)

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=task.pk).exists()


def test_delete_with_a_stale_etag_is_412_and_the_task_stays(member_client, task):
    stale = etag_of(member_client, task)
    assert member_client.patch(task_url(task), {"title": "Moved on"}).status_code == 200
    before = Task.objects.get(pk=task.pk)
    events_before = Event.objects.count()

    response = member_client.delete(task_url(task), HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert_task_unchanged(before)
    assert Event.objects.count() == events_before
    assert not Event.objects.filter(type="task.deleted").exists()
    assert member_client.get(task_url(task)).status_code == 200


def test_delete_with_if_match_star_succeeds(member_client, task):
    response = member_client.delete(task_url(task), HTTP_IF_MATCH="*")

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=task.pk).exists()


def test_if_match_on_a_task_the_user_cannot_see_is_404_not_412(member_client, others_task):
    response = member_client.patch(task_url(others_task), {"title": "x"}, HTTP_IF_MATCH='"stale"')

    assert_error(response, 404, "not_found")


# RFC 9110 section 13.1.1: If-Match uses the strong comparison, and our ETags are
# strong, so a weak tag (even one built from the current ETag) never matches.
@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_if_match_with_a_weak_etag_is_412_and_changes_nothing(member_client, task, method):
    weak = "W/" + etag_of(member_client, task)
    before = Task.objects.get(pk=task.pk)

    response = getattr(member_client, method)(
        task_url(task), {"title": "Weakly guarded"}, HTTP_IF_MATCH=weak
    )

    assert_error(response, 412, "precondition_failed")
    assert_task_unchanged(before)


def test_if_match_with_a_list_holding_the_current_etag_succeeds(member_client, task):
    current = etag_of(member_client, task)

    response = member_client.patch(
        task_url(task), {"title": "Listed"}, HTTP_IF_MATCH=f'"0-0", W/{current}, {current}'
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Listed"


def test_get_with_a_stale_if_match_is_412_in_the_error_shape(member_client, task, committed):
    stale = etag_of(member_client, task)
    with committed():
        assert member_client.patch(task_url(task), {"title": "Moved on"}).status_code == 200

    response = member_client.get(task_url(task), HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")


def test_get_with_the_current_if_match_answers_the_task(member_client, task):
    current = etag_of(member_client, task)

    response = member_client.get(task_url(task), HTTP_IF_MATCH=current)

    assert response.status_code == 200, response.content
    assert response["ETag"] == current
    assert response.json()["id"] == task.pk


# RFC 9110 section 13.1.2: on a write, If-None-Match "*" or the current ETag (weak
# comparison) means "only if it does not exist / changed", so the write must not happen.
@pytest.mark.parametrize("method", ["patch", "put", "delete"])
@pytest.mark.parametrize("tag", ["*", "current", "weak current"])
def test_a_write_with_a_matching_if_none_match_is_412_and_changes_nothing(
    member_client, task, method, tag
):
    current = etag_of(member_client, task)
    header = {"*": "*", "current": current, "weak current": "W/" + current}[tag]
    before = Task.objects.get(pk=task.pk)
    events_before = Event.objects.count()

    response = getattr(member_client, method)(
        task_url(task), {"title": "Not if it exists"}, HTTP_IF_NONE_MATCH=header
    )

    assert_error(response, 412, "precondition_failed")
    assert_task_unchanged(before)
    assert Event.objects.count() == events_before


def test_a_write_with_a_stale_if_none_match_goes_through(member_client, task):
    stale = etag_of(member_client, task)
    assert member_client.patch(task_url(task), {"title": "Moved on"}).status_code == 200

    response = member_client.patch(
        task_url(task), {"title": "Changed again"}, HTTP_IF_NONE_MATCH=stale
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Changed again"
