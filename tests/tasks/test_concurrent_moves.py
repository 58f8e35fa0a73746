"""Moves at the same time on PostgreSQL: the project's row lock serialises them, so no
two tasks take one place, none is lost, and the order is what the moves say in the
order they committed (their events' order)."""

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from accounts.models import User
from activity.models import Event
from projects.models import Project
from tasks.models import Task
from tasks.services import task_move
from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, TokenClient, own_connection, task_url, waits_for_a_lock
from tests.projects.helpers import new_project

T = TypeVar("T")

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks between connections of several threads: PostgreSQL",
    ),
]

MOVERS = 8
ROUNDS = 4


def race(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(i)` in `count` threads released together, each on its own database
    connection (closed at its end); what they returned, a thread's error re-raised."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait()
            result = work(index)
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


def stored_order(project: Project) -> list[int]:
    return list(
        Task.objects.filter(project=project).order_by("position").values_list("pk", flat=True)
    )


def last_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.fixture
def project(member: User, other_member: User) -> Project:
    return new_project(member, "Garden", (other_member, "member"))


@pytest.fixture
def tasks(project: Project, member: User) -> list[Task]:
    """Twelve tasks: the reference in the middle, eight movers around it."""
    return [TaskFactory(owner=member, project=project, title=f"t{index}") for index in range(12)]


def test_concurrent_moves_before_one_reference_all_land_before_it(
    member_client: TokenClient, project: Project, tasks: list[Task], settings: Any
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "10000/min"}
    reference = tasks[6]
    # Still: the first, one before the reference and the last.
    others = [tasks[0].pk, tasks[3].pk, tasks[11].pk]
    movers = [task for task in tasks if task is not reference and task.pk not in others]
    assert len(movers) == MOVERS
    token = member_client.tokens["access"]
    since = last_event_id()

    def moves(index: int) -> list[int]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        statuses = []
        for _ in range(ROUNDS):
            response = client.post(
                f"{task_url(movers[index])}move/", {"before": reference.pk}, format="json"
            )
            statuses.append(response.status_code)
        return statuses

    statuses = race(MOVERS, moves)

    assert [status for each in statuses for status in each] == [200] * (MOVERS * ROUNDS)
    order = stored_order(project)
    keys = list(Task.objects.filter(project=project).values_list("position", flat=True))
    assert len(set(keys)) == len(keys) == len(tasks)
    # The moved tasks make the block right before the reference, none lost, and the
    # tasks that did not move kept their order around it.
    at = order.index(reference.pk)
    assert set(order[at - MOVERS : at]) == {task.pk for task in movers}
    assert [pk for pk in order if pk in others] == others
    assert order.index(tasks[3].pk) < at - MOVERS and order.index(tasks[11].pk) > at
    # The one whose last move committed last is the reference's neighbour, and so on:
    # the block is the movers ordered by their last move's event.
    last_moves: dict[int, int] = {}
    for event_id, subject_id in (
        Event.objects.filter(
            id__gt=since, type="task.updated", subject_id__in=order, actor__isnull=False
        )
        .order_by("id")
        .values_list("id", "subject_id")
    ):
        last_moves[subject_id] = event_id
    assert set(last_moves) <= {task.pk for task in movers}
    by_last_move = sorted(last_moves, key=last_moves.__getitem__)
    # A mover's later move can be a no-op (already right before the reference): it
    # has no event, but its place is the one its last event gave it.
    assert order[at - len(by_last_move) : at] == by_last_move
    assert len(by_last_move) == MOVERS


def test_concurrent_moves_before_and_after_one_reference_replay_in_commit_order(
    member: User, other_member: User, project: Project, tasks: list[Task]
) -> None:
    reference = tasks[5]
    movers = [task for task in tasks if task is not reference][:MOVERS]
    wheres = ["before" if index % 2 == 0 else "after" for index in range(MOVERS)]
    start = stored_order(project)
    since = last_event_id()

    def moves(index: int) -> int:
        actor = member if index % 2 == 0 else other_member
        written = 0
        for _ in range(ROUNDS):
            task_move(actor=actor, task_id=movers[index].pk, **{wheres[index]: reference.pk})
            written += 1
        return written

    assert sum(race(MOVERS, moves)) == MOVERS * ROUNDS

    order = stored_order(project)
    keys = list(Task.objects.filter(project=project).values_list("position", flat=True))
    assert len(set(keys)) == len(keys) == len(tasks)
    # Replay the moves that wrote something, in their events' (commit) order.
    where_of = {movers[index].pk: wheres[index] for index in range(MOVERS)}
    model = list(start)
    for subject_id in (
        Event.objects.filter(
            id__gt=since, type="task.updated", subject_id__in=list(where_of), actor__isnull=False
        )
        .order_by("id")
        .values_list("subject_id", flat=True)
    ):
        model.remove(subject_id)
        at = model.index(reference.pk)
        model.insert(at if where_of[subject_id] == "before" else at + 1, subject_id)
    assert order == model
    # Every mover ended next to the reference on its side: the befores right before it,
    # the afters right after it.
    at = order.index(reference.pk)
    befores = {pk for pk, where in where_of.items() if where == "before"}
    afters = {pk for pk, where in where_of.items() if where == "after"}
    assert set(order[at - len(befores) : at]) == befores
    assert set(order[at + 1 : at + 1 + len(afters)]) == afters


def test_concurrent_creates_go_last_with_distinct_positions(
    member_client: TokenClient, project: Project, tasks: list[Task], settings: Any
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "10000/min"}
    token = member_client.tokens["access"]

    def create(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(
            TASKS_URL, {"title": f"new {index}", "project": project.pk}, format="json"
        )
        assert response.status_code == 201, response.content
        return int(response.json()["id"])

    created = race(MOVERS, create)

    order = stored_order(project)
    keys = list(Task.objects.filter(project=project).values_list("position", flat=True))
    assert len(set(keys)) == len(keys) == len(tasks) + MOVERS
    assert order[: len(tasks)] == [task.pk for task in tasks]
    # Each creation read the last position under the project's lock: ids (given in
    # insert order under that lock) follow positions.
    assert order[len(tasks) :] == sorted(created)


def test_concurrent_creates_in_the_personal_project_go_last_with_distinct_positions(
    member: User, member_client: TokenClient, settings: Any
) -> None:
    # The personal project is found by its owner in the locking statement, prepared on
    # the server; its last position is read after the lock, in a statement of its own.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "10000/min"}
    personal = Project.objects.get(personal_owner=member)
    existing = [TaskFactory(owner=member, project=personal, title=f"t{n}") for n in range(3)]
    token = member_client.tokens["access"]

    def create(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(TASKS_URL, {"title": f"new {index}"}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["project"] == personal.pk
        return int(response.json()["id"])

    created = race(MOVERS, create)

    order = stored_order(personal)
    assert len(order) == len(set(order)) == len(existing) + MOVERS
    assert order[: len(existing)] == [task.pk for task in existing]
    assert order[len(existing) :] == sorted(created)


def test_a_create_reads_the_last_position_once_it_holds_the_projects_lock(member: User) -> None:
    # tasks_lock_for_append (migrations 0010, 0012) reads the greatest position in a
    # query of its own: one waiting for the lock sees what the lock's holder committed.
    personal = Project.objects.get(personal_owner=member)
    task = TaskFactory(owner=member, project=personal)
    lock = "SELECT * FROM tasks_lock_for_append(NULL, %s)"
    found: list[Any] = []
    with own_connection() as holder, own_connection() as waiter:
        held = holder.execute(lock, [member.pk]).fetchone()
        assert held[:3] == (personal.pk, False, task.position)
        thread = threading.Thread(
            target=lambda: found.append(waiter.execute(lock, [member.pk]).fetchone())
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not waits_for_a_lock(waiter.info.backend_pid):
            assert time.monotonic() < deadline, "the second lock did not wait"
            time.sleep(0.02)
        # The holder's change of the greatest position, committed while the other waits.
        holder.execute("UPDATE tasks_task SET position = 'zz' WHERE id = %s", [task.pk])
        holder.commit()
        thread.join(timeout=10)
        waiter.rollback()
    (waited,) = found
    assert waited[:3] == (personal.pk, False, "zz")
    # Each call draws an id for the task it is about to create.
    assert task.pk < held[3] < waited[3]
