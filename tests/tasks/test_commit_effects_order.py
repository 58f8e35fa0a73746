"""After a task write commits, its lists' counters move before its events are
published: a client that reads the list as soon as its socket hears of the change
must not be answered from the cache as it was before (tasks.services)."""

from collections.abc import Callable
from typing import Any

import pytest

from activity import publication
from tasks import caching
from tasks.services import task_create, task_delete, task_update
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def effects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The after-commit effects of a write, in the order they run."""
    order: list[str] = []
    monkeypatch.setattr(caching, "_bump", lambda scopes: order.append("counters"))
    monkeypatch.setattr(
        publication, "_subscribers", [lambda events: order.extend(["event"] * len(events))]
    )
    return order


def run(committed: Callable[[], Any], write: Callable[[], Any]) -> None:
    with committed():
        write()


def test_a_create_moves_the_counters_before_it_publishes_its_event(member, effects, committed):
    run(committed, lambda: task_create(actor=member, title="Seen at once"))

    assert effects == ["counters", "event"]


def test_an_update_moves_the_counters_before_it_publishes_its_event(member, effects, committed):
    task = TaskFactory(owner=member)
    effects.clear()

    run(
        committed,
        lambda: task_update(actor=member, task_id=task.pk, data={"title": "Seen at once"}),
    )

    assert effects[0] == "counters" and "event" in effects


def test_a_subtask_moves_the_counters_before_either_event(member, effects, committed):
    parent = TaskFactory(owner=member)
    effects.clear()

    run(committed, lambda: task_create(actor=member, title="Child", parent=parent.pk))

    assert effects[0] == "counters" and effects.count("event") == 2


def test_a_delete_moves_the_counters_before_it_publishes_its_event(member, effects, committed):
    task = TaskFactory(owner=member)
    effects.clear()

    run(committed, lambda: task_delete(actor=member, task_id=task.pk))

    assert effects[0] == "counters" and "event" in effects
