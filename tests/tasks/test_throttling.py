"""Per-user "read" and "write" throttles on the task endpoints, with X-RateLimit headers."""

import pytest

from tasks.models import Task
from tests.helpers import FEED_URL, TASKS_URL, assert_error, task_url
from tests.tasks.helpers import STATS_URL, events_url

pytestmark = pytest.mark.django_db

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture
def rates(settings):
    """`rates(read=..., write=...)` sets per-minute rates for this test."""

    def _rates(read: int = 1000, write: int = 1000) -> None:
        settings.THROTTLE_RATES = {
            **settings.THROTTLE_RATES,
            "read": f"{read}/min",
            "write": f"{write}/min",
        }

    return _rates


def rate_headers(response) -> tuple[int, int, int]:
    for header in RATE_HEADERS:
        assert header in response, (header, dict(response.items()))
        assert response[header].isdigit(), (header, response[header])
    reset = int(response["X-RateLimit-Reset"])
    assert 0 <= reset <= 60
    return int(response["X-RateLimit-Limit"]), int(response["X-RateLimit-Remaining"]), reset


def assert_throttled(response) -> None:
    assert_error(response, 429, "throttled")
    retry_after = response["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60


def test_reads_count_down_the_remaining_allowance(member_client, task, rates):
    rates(read=3)

    responses = [member_client.get(TASKS_URL) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [rate_headers(r)[:2] for r in responses] == [(3, 2), (3, 1), (3, 0)]


def test_the_read_after_the_limit_is_429_with_retry_after(member_client, task, rates):
    rates(read=2)
    for _ in range(2):
        assert member_client.get(task_url(task)).status_code == 200

    response = member_client.get(task_url(task))

    assert_throttled(response)
    limit, remaining, reset = rate_headers(response)
    assert (limit, remaining) == (2, 0)
    assert abs(int(response["Retry-After"]) - reset) <= 1


def test_the_write_after_the_limit_is_429_and_creates_nothing(member_client, rates):
    rates(write=2)
    for n in range(2):
        assert member_client.post(TASKS_URL, {"title": f"t{n}"}).status_code == 201

    response = member_client.post(TASKS_URL, {"title": "one too many"})

    assert_throttled(response)
    assert Task.objects.count() == 2
    assert not Task.objects.filter(title="one too many").exists()


def test_a_throttled_update_changes_nothing(member_client, task, rates):
    rates(write=1)
    assert member_client.patch(task_url(task), {"title": "First"}).status_code == 200

    response = member_client.patch(task_url(task), {"title": "Second"})

    assert_throttled(response)
    task.refresh_from_db()
    assert task.title == "First"


def test_a_throttled_delete_keeps_the_task(member_client, member, task, rates):
    rates(write=1)
    assert member_client.patch(task_url(task), {"title": "First"}).status_code == 200

    assert_throttled(member_client.delete(task_url(task)))
    assert Task.objects.filter(pk=task.pk).exists()


def test_writes_use_the_write_rate_and_reads_the_read_rate(member_client, task, rates):
    rates(read=5, write=2)

    read = member_client.get(TASKS_URL)
    write = member_client.patch(task_url(task), {"title": "x"})

    assert rate_headers(read)[:2] == (5, 4)
    assert rate_headers(write)[:2] == (2, 1)


def test_exhausting_writes_leaves_reads_allowed(member_client, task, rates):
    rates(read=5, write=1)
    assert member_client.patch(task_url(task), {"title": "x"}).status_code == 200
    assert_throttled(member_client.patch(task_url(task), {"title": "y"}))

    response = member_client.get(task_url(task))

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "x"


def test_exhausting_reads_leaves_writes_allowed(member_client, task, rates):
    rates(read=1, write=5)
    assert member_client.get(TASKS_URL).status_code == 200
    assert_throttled(member_client.get(TASKS_URL))

    response = member_client.patch(task_url(task), {"title": "still writable"})

    assert response.status_code == 200, response.content


def test_two_users_have_separate_counts(member_client, other_member_client, rates):
    rates(read=2, write=1)
    assert member_client.post(TASKS_URL, {"title": "mine"}).status_code == 201
    assert_throttled(member_client.post(TASKS_URL, {"title": "mine again"}))
    for _ in range(2):
        assert member_client.get(TASKS_URL).status_code == 200
    assert_throttled(member_client.get(TASKS_URL))

    write = other_member_client.post(TASKS_URL, {"title": "theirs"})
    read = other_member_client.get(TASKS_URL)

    assert write.status_code == 201, write.content
    assert rate_headers(write)[:2] == (1, 0)
    assert read.status_code == 200, read.content
    assert rate_headers(read)[:2] == (2, 1)


def test_two_sessions_of_one_user_share_the_count(member, client_for, rates):
    rates(read=2)
    first, second = client_for(member), client_for(member)
    assert first.get(TASKS_URL).status_code == 200
    assert second.get(TASKS_URL).status_code == 200

    assert_throttled(first.get(TASKS_URL))
    assert_throttled(second.get(TASKS_URL))


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", TASKS_URL, 200),
        ("get", "detail", 200),
        ("get", "events", 200),
        ("get", STATS_URL, 200),
        ("get", FEED_URL, 200),
        ("post", TASKS_URL, 201),
        ("put", "detail", 200),
        ("patch", "detail", 200),
        ("delete", "detail", 204),
    ],
)
def test_every_task_endpoint_answers_rate_limit_headers(
    member_client, task, rates, method, url, status
):
    rates(read=7, write=4)
    url = {"detail": task_url(task), "events": events_url(task)}.get(url, url)
    if method in {"post", "put", "patch"}:
        response = getattr(member_client, method)(url, {"title": "Headers"}, format="json")
    else:
        response = getattr(member_client, method)(url)

    assert response.status_code == status, response.content
    limit, remaining, reset = rate_headers(response)
    expected_limit = 7 if method == "get" else 4
    assert (limit, remaining) == (expected_limit, expected_limit - 1)
    assert 0 <= reset <= 60


def test_if_none_match_304_also_counts_as_a_read(member_client, task, rates):
    rates(read=2)
    etag = member_client.get(task_url(task))["ETag"]

    response = member_client.get(task_url(task), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert_throttled(member_client.get(task_url(task), HTTP_IF_NONE_MATCH=etag))
