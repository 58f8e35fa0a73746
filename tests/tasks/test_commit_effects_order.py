"""After a task write commits, its lists' counters move before its events are
published: a client that reads the list as soon as its socket hears of the change
must not be answered from the cache as it was before (tasks.services)."""

import pytest

from tasks.services import task_create, task_delete, task_update
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_a_create_moves_the_counters_before_its_event(member, commit_effects, committed):
    with committed():
        task_create(actor=member, title="Seen at once")

    assert commit_effects == ["counters", "event"]


def test_an_update_moves_the_counters_before_its_event(member, commit_effects, committed):
    task = TaskFactory(owner=member)
    commit_effects.clear()

    with committed():
        task_update(actor=member, task_id=task.pk, data={"title": "Seen at once"})

    assert commit_effects[0] == "counters" and "event" in commit_effects


def test_a_subtask_moves_the_counters_before_either_event(member, commit_effects, committed):
    parent = TaskFactory(owner=member)
    commit_effects.clear()

    with committed():
        task_create(actor=member, title="Child", parent=parent.pk)

    assert commit_effects[0] == "counters" and commit_effects.count("event") == 2


def test_a_delete_moves_the_counters_before_its_event(member, commit_effects, committed):
    task = TaskFactory(owner=member)
    commit_effects.clear()

    with committed():
        task_delete(actor=member, task_id=task.pk)

    assert commit_effects[0] == "counters" and "event" in commit_effects
