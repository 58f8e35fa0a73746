"""Many moves to one spot make positions long; the rebalance (tasks.rebalancing) gives
the run of long keys short ones again, after the move's commit, inline or in a
background thread, without changing the order or any other task."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from accounts.models import User
from activity.models import Event
from projects.models import Project
from tasks import positions, rebalancing
from tasks.models import Task
from tasks.services import task_move
from tests.factories import TaskFactory
from tests.helpers import TokenClient, task_url
from tests.projects.helpers import new_project
from tests.tasks.helpers import list_ids

Committed = Callable[[], Any]
MOVES = 300
# A move makes a key at most one character longer than the longest before it, and a
# key past REBALANCE_LENGTH is rebalanced after the commit of its move.
LONGEST = positions.REBALANCE_LENGTH + 1


def move_url(task: Any) -> str:
    return f"{task_url(task)}move/"


def stored_order(project: Project) -> list[int]:
    return list(
        Task.objects.filter(project=project).order_by("position").values_list("pk", flat=True)
    )


def keys(project: Project) -> dict[int, str]:
    return dict(Task.objects.filter(project=project).values_list("pk", "position"))


def snapshot(project: Project) -> dict[int, tuple[str, int]]:
    return {
        pk: (position, version)
        for pk, position, version in Task.objects.filter(project=project).values_list(
            "pk", "position", "version"
        )
    }


def moved_in_model(order: list[int], task_id: int, where: str, reference_id: int) -> None:
    """What a move does to the list: the task leaves its place and lands next to the
    reference."""
    order.remove(task_id)
    index = order.index(reference_id)
    order.insert(index if where == "before" else index + 1, task_id)


def alternating(first: Task, second: Task, anchor: Task) -> Iterator[tuple[Task, str, Task]]:
    """MOVES moves of `first` and `second` in turn, each right after `anchor`: every
    move takes the gap next to the anchor, so keys grow by a digit every few moves."""
    for index in range(MOVES):
        yield (first if index % 2 == 0 else second), "after", anchor


@pytest.fixture
def project(member: User, other_member: User) -> Project:
    return new_project(member, "Garden", (other_member, "member"))


@pytest.fixture
def six(project: Project, member: User) -> list[Task]:
    return [TaskFactory(owner=member, project=project, title=name) for name in "abcdef"]


# --- inline, after each move's commit ---------------------------------------------------


@pytest.mark.django_db
def test_300_moves_to_one_spot_never_fail_keep_keys_short_and_the_order_they_say(
    member_client: TokenClient,
    project: Project,
    six: list[Task],
    settings: Any,
    committed: Committed,
) -> None:
    settings.TASKS_REBALANCE_IN_BACKGROUND = False
    a, b, c, d, e, f = six
    model = [task.pk for task in six]
    untouched = {task.pk: (task.position, task.version) for task in (a, b, c, d)}

    for count, (task, where, reference) in enumerate(alternating(e, f, b), 1):
        with committed():
            response = member_client.post(move_url(task), {where: reference.pk}, format="json")
        assert response.status_code == 200, (count, response.content)
        moved_in_model(model, task.pk, where, reference.pk)
        assert stored_order(project) == model, count
        longest = max(len(key) for key in keys(project).values())
        assert longest <= LONGEST, (count, keys(project))

    assert model == [a.pk, b.pk, f.pk, e.pk, c.pk, d.pk]
    assert list_ids(member_client, {"project": project.pk, "ordering": "position"}) == model
    # Without a rebalance, 300 halvings of one gap need keys of about 60 characters:
    # some moves' keys were replaced by the rebalance (events without an actor).
    rebalanced = Event.objects.filter(subject_id__in=[e.pk, f.pk], actor=None)
    assert rebalanced.exists()
    assert all(set(event.changes) == {"position"} for event in rebalanced)
    # The tasks that never moved kept their keys and versions.
    for task in Task.objects.filter(pk__in=list(untouched)):
        assert (task.position, task.version) == untouched[task.pk], task.title
    # Each move and each rebalance is a new version of the moved tasks.
    for task in (e, f):
        events = Event.objects.filter(subject_id=task.pk, type="task.updated").count()
        assert Task.objects.get(pk=task.pk).version == task.version + events


# --- positions_rebalance called directly --------------------------------------------------


@pytest.mark.django_db
def test_the_rebalance_gives_only_the_long_run_new_short_keys_in_the_same_order(
    member: User, project: Project, six: list[Task], settings: Any
) -> None:
    settings.TASKS_REBALANCE_IN_BACKGROUND = False
    a, b, c, d, e, f = six
    model = [task.pk for task in six]
    # In the test's transaction nothing commits: no rebalance runs by itself.
    for task, where, reference in alternating(e, f, c):
        task_move(actor=member, task_id=task.pk, **{where: reference.pk})
        moved_in_model(model, task.pk, where, reference.pk)
    before = snapshot(project)
    assert max(len(key) for key, _ in before.values()) > positions.REBALANCE_LENGTH
    long_run = {pk for pk, (key, _) in before.items() if len(key) != positions.WIDTH}
    assert long_run == {e.pk, f.pk}
    last_event = Event.objects.order_by("-id").values_list("id", flat=True).first()

    changed = rebalancing.positions_rebalance(project.pk)

    assert changed == len(long_run)
    after = snapshot(project)
    assert stored_order(project) == model == [a.pk, b.pk, c.pk, f.pk, e.pk, d.pk]
    assert all(len(key) <= positions.REBALANCE_LENGTH for key, _ in after.values()), after
    assert len({key for key, _ in after.values()}) == len(after)
    for pk, (key, version) in before.items():
        if pk in long_run:
            assert after[pk] == (after[pk][0], version + 1)
            assert len(after[pk][0]) == positions.WIDTH
        else:
            assert after[pk] == (key, version)
    events = Event.objects.filter(id__gt=last_event).order_by("id")
    assert sorted(event.subject_id for event in events) == sorted(long_run)
    for event in events:
        assert event.type == "task.updated"
        assert event.actor_id is None
        assert event.changes == {
            "position": [before[event.subject_id][0], after[event.subject_id][0]]
        }


@pytest.mark.django_db
def test_a_rebalance_without_long_keys_changes_nothing(
    member: User, project: Project, six: list[Task]
) -> None:
    a, _b, _c, _d, e, f = six
    task_move(actor=member, task_id=f.pk, after=a.pk)
    task_move(actor=member, task_id=e.pk, after=a.pk)
    before = snapshot(project)
    events_before = Event.objects.count()

    assert rebalancing.positions_rebalance(project.pk) == 0

    assert snapshot(project) == before
    assert Event.objects.count() == events_before


@pytest.mark.django_db
def test_a_run_without_room_between_its_neighbours_widens_and_keeps_the_order(
    member: User, project: Project, six: list[Task]
) -> None:
    """Long keys between two short neighbours one apart: the run takes the neighbours
    in until it has room; every key short and distinct, the order kept."""
    a, b, c, d, e, f = six
    crafted = {
        a.pk: positions.encode(positions.BASE ** (positions.WIDTH - 1)),
        c.pk: positions.encode(positions.BASE ** (positions.WIDTH - 1)) + "h" * 35,
        d.pk: positions.encode(positions.BASE ** (positions.WIDTH - 1)) + "i" * 35,
        b.pk: positions.encode(positions.BASE ** (positions.WIDTH - 1) + 1),
    }
    for pk, key in crafted.items():
        Task.objects.filter(pk=pk).update(position=key)
    order = [a.pk, c.pk, d.pk, b.pk, e.pk, f.pk]
    assert stored_order(project) == order
    e_f = {task.pk: (task.position, task.version) for task in (e, f)}

    assert rebalancing.positions_rebalance(project.pk) == 4

    assert stored_order(project) == order
    after = snapshot(project)
    assert all(len(key) == positions.WIDTH for key, _ in after.values()), after
    assert {pk: after[pk] for pk in e_f} == e_f


@pytest.mark.django_db
def test_a_move_where_no_key_fits_rebalances_first_and_lands(
    member_client: TokenClient, project: Project, six: list[Task], settings: Any
) -> None:
    """Next to a key of the column's full length no longer key fits: the move
    rebalances the project under its lock and then finds room."""
    settings.TASKS_REBALANCE_IN_BACKGROUND = False
    a, b, c, d, e, f = six
    full = positions.encode(positions.BASE ** (positions.WIDTH - 1)) + "z" * (
        positions.MAX_LENGTH - positions.WIDTH
    )
    Task.objects.filter(pk=b.pk).update(
        position=positions.encode(positions.BASE ** (positions.WIDTH - 1) + 1)
    )
    Task.objects.filter(pk=a.pk).update(position=full)
    assert stored_order(project) == [a.pk, b.pk, c.pk, d.pk, e.pk, f.pk]
    with pytest.raises(positions.NoRoomError):
        positions.between(full, Task.objects.get(pk=b.pk).position)

    response = member_client.post(move_url(f), {"after": a.pk}, format="json")

    assert response.status_code == 200, response.content
    assert stored_order(project) == [a.pk, f.pk, b.pk, c.pk, d.pk, e.pk]
    assert all(len(key) <= LONGEST for key in keys(project).values()), keys(project)


# --- in the background --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_background_rebalance_shortens_the_keys_after_the_moves(
    member: User, project: Project, six: list[Task], settings: Any
) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("a second thread writing: SQLite's in-memory test database locks tables")
    settings.TASKS_REBALANCE_IN_BACKGROUND = True
    a, b, c, d, e, f = six
    model = [task.pk for task in six]
    untouched = {task.pk: (task.position, task.version) for task in (a, b, c, d)}
    longest_seen = 0
    try:
        # Each move commits: a long key asks the thread for a rebalance.
        for task, where, reference in alternating(e, f, b):
            task_move(actor=member, task_id=task.pk, **{where: reference.pk})
            moved_in_model(model, task.pk, where, reference.pk)
            longest_seen = max(longest_seen, len(Task.objects.get(pk=task.pk).position))
        assert longest_seen > positions.REBALANCE_LENGTH

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if max(len(key) for key in keys(project).values()) <= positions.REBALANCE_LENGTH:
                break
            time.sleep(0.05)
    finally:
        # Nothing of the thread's may still write when the database is flushed.
        if rebalancing._executor is not None:
            rebalancing._executor.submit(lambda: None).result(timeout=30)

    assert max(len(key) for key in keys(project).values()) <= positions.REBALANCE_LENGTH, keys(
        project
    )
    assert stored_order(project) == model
    for task in Task.objects.filter(pk__in=list(untouched)):
        assert (task.position, task.version) == untouched[task.pk], task.title
    assert Event.objects.filter(subject_id__in=[e.pk, f.pk], actor=None).exists()
