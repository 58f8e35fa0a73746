"""After a project write commits, the task lists it changes are made stale before its
event is published (docs/architecture.md, "Commit"): a member told on their socket
that they joined or left a project reads their tasks afresh."""

from collections.abc import Callable
from typing import Any

import pytest

from activity import publication
from projects.models import ProjectRole
from projects.services import (
    member_add,
    member_remove,
    project_create,
    project_delete,
    project_update,
)
from tasks import caching

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


def committed_run(committed: Callable[[], Any], write: Callable[[], Any]) -> Any:
    with committed():
        return write()


def test_a_new_project_moves_its_creators_counters_first(member, effects, committed):
    committed_run(committed, lambda: project_create(actor=member, name="Garden"))

    assert effects[0] == "counters" and "event" in effects


@pytest.mark.parametrize("change", ["add", "remove"])
def test_a_membership_change_moves_the_members_counters_first(
    member, other_member, effects, committed, change
):
    project = project_create(actor=member, name="Garden")
    if change == "remove":
        member_add(
            actor=member,
            project_id=project.pk,
            identifier=other_member.username,
            role=ProjectRole.MEMBER,
        )
    effects.clear()

    if change == "add":
        committed_run(
            committed,
            lambda: member_add(
                actor=member,
                project_id=project.pk,
                identifier=other_member.username,
                role=ProjectRole.MEMBER,
            ),
        )
    else:
        committed_run(
            committed,
            lambda: member_remove(actor=member, project_id=project.pk, user_id=other_member.pk),
        )

    assert effects[0] == "counters" and "event" in effects


def test_archiving_moves_the_projects_counters_first(member, effects, committed):
    project = project_create(actor=member, name="Garden")
    effects.clear()

    committed_run(
        committed,
        lambda: project_update(actor=member, project_id=project.pk, data={"is_archived": True}),
    )

    assert effects[0] == "counters" and "event" in effects


def test_a_deleted_project_moves_its_members_counters_first(member, effects, committed):
    project = project_create(actor=member, name="Garden")
    effects.clear()

    committed_run(committed, lambda: project_delete(actor=member, project_id=project.pk))

    assert effects[0] == "counters" and "event" in effects
