"""Syncing while others write, on PostgreSQL: events commit in the order of their ids
(the outbox's ordering lock), so a page's cursor never passes an event that commits
later, and a client that syncs while writers run still ends with everything."""

import threading
from typing import Any

import pytest
from django.db import connection, connections

from accounts.models import User
from projects.models import Project
from tasks.models import Task
from tasks.services import task_create, task_update
from tests.sync.helpers import Replica, api_view

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL"
    ),
]

WRITES = 40


def test_a_client_syncing_while_two_users_write_misses_nothing(
    member: User, other_member: User, member_client: Any, garden: Project
) -> None:
    tasks = [task_create(actor=member, title=f"Task {n}", project=garden) for n in range(4)]
    replica = Replica()
    replica.sync(member_client)
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def write(actor: User, offset: int) -> None:
        try:
            start.wait()
            for n in range(WRITES):
                if n % 4 == 0:
                    task_create(actor=actor, title=f"New {offset}-{n}", project=garden)
                else:
                    task = tasks[(n + offset) % len(tasks)]
                    task_update(actor=actor, task_id=task.pk, data={"title": f"{offset}-{n}"})
        except BaseException as exc:  # re-raised below: a writer's failure fails the test
            errors.append(exc)
        finally:
            connections.close_all()

    writers = [
        threading.Thread(target=write, args=(member, 0)),
        threading.Thread(target=write, args=(other_member, 1)),
    ]
    for writer in writers:
        writer.start()
    start.wait()
    runs = 0
    while any(writer.is_alive() for writer in writers):
        replica.sync(member_client)
        runs += 1
    for writer in writers:
        writer.join(timeout=120)
    assert not errors, errors
    replica.sync(member_client)

    assert runs >= 1
    assert len(replica.of_type("task")) == Task.objects.filter(project=garden).count() == 24
    assert replica.objects == api_view(member_client)
