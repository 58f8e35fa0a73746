"""Concurrent writers on PostgreSQL: row locks and versions decide, nothing is lost."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from activity.models import Event
from tasks.models import Task
from tests.factories import TaskFactory
from tests.helpers import assert_error

T = TypeVar("T")

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks across connections: PostgreSQL"
    ),
]


def race(count: int, request: Callable[[int], T]) -> list[T]:
    """Run `request(i)` in `count` threads released together; what they returned."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait()
            result = request(index)
            with lock:
                results.append(result)
        except BaseException as exc:  # re-raised below: a thread's failure fails the test
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racer did not finish"
    if errors:
        raise errors[0]
    return results


def test_patches_with_one_if_match_let_exactly_one_win(member, member_client):
    task = TaskFactory(owner=member)
    token = member_client.tokens["access"]

    def patch(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.patch(
            f"/api/v1/tasks/{task.pk}/",
            {"title": f"writer {index}"},
            format="json",
            HTTP_IF_MATCH=f'"{task.pk}-1"',
        )
        return response.status_code

    statuses = race(20, patch)

    assert sorted(statuses) == [200] + [412] * 19
    task.refresh_from_db()
    assert task.version == 2
    assert Event.objects.filter(subject_id=task.pk, type="task.updated").count() == 1


def test_concurrent_patches_of_different_fields_all_land(member, member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "1000/min"}
    task = TaskFactory(owner=member)
    token = member_client.tokens["access"]
    changes = [
        {"title": "renamed"},
        {"description": "described"},
        {"priority": "high"},
        {"status": "in_progress"},
    ]

    def patch(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.patch(f"/api/v1/tasks/{task.pk}/", changes[index], format="json")
        return response.status_code

    assert race(len(changes), patch) == [200] * len(changes)

    task = Task.objects.get(pk=task.pk)
    assert (task.title, task.description, task.priority, task.status) == (
        "renamed",
        "described",
        "high",
        "in_progress",
    )
    # Each writer saw the others' versions: no increment was lost.
    assert task.version == 1 + len(changes)


@dataclass
class Attempt:
    """One writer's read-then-conditional-write: the version its ETag named and the
    answer to its PATCH."""

    if_match: int
    response: Any

    @property
    def status(self) -> int:
        return int(self.response.status_code)

    @property
    def body(self) -> dict[str, Any]:
        return dict(self.response.json())


WRITERS = 50
ROUNDS = 3


def test_fifty_writers_reading_then_patching_with_if_match_win_once_per_version(
    member, member_client, settings
):
    """50 writers released together, 3 rounds: each GETs the task's ETag and PATCHes
    with it. Every version is won by exactly one PATCH; every other PATCH is a 412
    that changed nothing; no success is lost or doubled."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}
    task = TaskFactory(owner=member, title="start")
    token = member_client.tokens["access"]
    url = f"/api/v1/tasks/{task.pk}/"

    def read_then_patch(round_: int) -> Callable[[int], Attempt]:
        def attempt(index: int) -> Attempt:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            read = client.get(url)
            assert read.status_code == 200, read.content
            etag = read.headers["ETag"]
            assert etag == f'"{task.pk}-{read.json()["version"]}"'
            response = client.patch(
                url, {"title": f"round {round_} writer {index}"}, format="json", HTTP_IF_MATCH=etag
            )
            return Attempt(if_match=int(etag.strip('"').rsplit("-", 1)[1]), response=response)

        return attempt

    attempts: list[Attempt] = []
    for round_ in range(ROUNDS):
        attempts += race(WRITERS, read_then_patch(round_))

    assert len(attempts) == WRITERS * ROUNDS
    assert {a.status for a in attempts} <= {200, 412}, sorted({a.status for a in attempts})
    wins = [a for a in attempts if a.status == 200]
    losses = [a for a in attempts if a.status == 412]
    # Each round's first PATCH to take the row lock read the then-current version.
    assert len(wins) >= ROUNDS
    assert losses, "the writers never collided: no race was tested"

    task.refresh_from_db()
    # Exactly one success per version 1 .. final - 1, and the version moved once per success.
    assert task.version == len(wins) + 1
    assert sorted(a.if_match for a in wins) == list(range(1, task.version))
    for win in wins:
        assert win.body["version"] == win.if_match + 1
        assert win.response.headers["ETag"] == f'"{task.pk}-{win.if_match + 1}"'
    # A 412 only ever answered an ETag that another writer had already moved past.
    won_versions = {a.if_match for a in wins}
    for loss in losses:
        assert loss.if_match in won_versions, loss.if_match
        assert_error(loss.response, 412, "precondition_failed")
    # The task holds the last winner's title.
    last = max(wins, key=lambda a: a.if_match)
    assert task.title == last.body["title"]

    # One "updated" event per success, and their changes chain from one winner to the next.
    updates = list(Event.objects.filter(subject_id=task.pk, type="task.updated").order_by("id"))
    assert len(updates) == len(wins)
    by_version = sorted(wins, key=lambda a: a.if_match)
    previous = "start"
    for event, win in zip(updates, by_version, strict=True):
        assert event.changes["title"] == [previous, win.body["title"]]
        assert event.actor_id == member.pk
        previous = win.body["title"]


def test_racing_creates_with_one_idempotency_key_make_one_task(member, member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "1000/min"}
    token = member_client.tokens["access"]

    def create(index: int) -> tuple[int, dict[str, Any], str | None]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(
            "/api/v1/tasks/", {"title": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
        )
        return response.status_code, response.json(), response.headers.get("Idempotent-Replayed")

    results = race(20, create)

    assert [status for status, _, _ in results] == [201] * 20
    tasks = Task.objects.filter(owner=member)
    assert [t.title for t in tasks] == ["once"]
    # Every racer got the same task back; exactly one made it, the others were replays.
    assert {body["id"] for _, body, _ in results} == {tasks[0].pk}
    assert sorted(replayed or "" for _, _, replayed in results) == [""] + ["true"] * 19
    assert Event.objects.filter(subject_id=tasks[0].pk, type="task.created").count() == 1


def test_racing_creates_with_one_key_and_two_bodies_make_one_task_and_conflicts(
    member, member_client, settings
):
    """Half the racers send one body, half another, under one key: the body that won
    is replayed to its senders, the other body gets 409 and creates nothing."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "1000/min"}
    token = member_client.tokens["access"]
    titles = ["first", "second"]

    def create(index: int) -> tuple[str, Any]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        title = titles[index % 2]
        return title, client.post(
            "/api/v1/tasks/", {"title": title}, format="json", HTTP_IDEMPOTENCY_KEY="shared"
        )

    results = race(20, create)

    tasks = list(Task.objects.filter(owner=member))
    assert len(tasks) == 1
    winner = tasks[0].title
    assert winner in titles
    for title, response in results:
        if title == winner:
            assert response.status_code == 201, response.content
            assert response.json()["id"] == tasks[0].pk
        else:
            assert_error(response, 409, "conflict")
    assert Event.objects.filter(type="task.created", actor=member).count() == 1
