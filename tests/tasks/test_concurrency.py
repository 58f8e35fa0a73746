"""Concurrent writers on PostgreSQL: row locks and versions decide, nothing is lost."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from tasks.models import Task, TaskEvent
from tests.factories import TaskFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks across connections: PostgreSQL"
    ),
]


def race(count: int, request: Callable[[int], int]) -> list[int]:
    """Run `request(i)` in `count` threads released together; their status codes."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait()
            code = request(index)
            with lock:
                statuses.append(code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


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
    assert TaskEvent.objects.filter(task_id=task.pk, kind="updated").count() == 1


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


def test_racing_creates_with_one_idempotency_key_make_one_task(member, member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "1000/min"}
    token = member_client.tokens["access"]

    def create(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(
            "/api/v1/tasks/", {"title": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
        )
        return response.status_code

    assert race(20, create) == [201] * 20
    assert Task.objects.filter(owner=member, title="once").count() == 1
