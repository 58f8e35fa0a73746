"""After a project write commits, the task lists it changes are made stale before its
event is published (docs/architecture.md, "Commit"): a member told on their socket
that they joined or left a project reads their tasks afresh."""

import pytest

from projects.models import ProjectRole
from projects.services import (
    member_add,
    member_remove,
    project_create,
    project_delete,
    project_update,
)

pytestmark = pytest.mark.django_db


def test_a_new_project_moves_its_creators_counters_first(member, commit_effects, committed):
    with committed():
        project_create(actor=member, name="Garden")

    assert commit_effects[0] == "counters" and "event" in commit_effects


@pytest.mark.parametrize("change", ["add", "remove"])
def test_a_membership_change_moves_the_members_counters_first(
    member, other_member, commit_effects, committed, change
):
    project = project_create(actor=member, name="Garden")

    def add() -> None:
        member_add(
            actor=member,
            project_id=project.pk,
            identifier=other_member.username,
            role=ProjectRole.MEMBER,
        )

    if change == "remove":
        add()
    commit_effects.clear()

    with committed():
        if change == "add":
            add()
        else:
            member_remove(actor=member, project_id=project.pk, user_id=other_member.pk)

    assert commit_effects[0] == "counters" and "event" in commit_effects


def test_archiving_moves_the_projects_counters_first(member, commit_effects, committed):
    project = project_create(actor=member, name="Garden")
    commit_effects.clear()

    with committed():
        project_update(actor=member, project_id=project.pk, data={"is_archived": True})

    assert commit_effects[0] == "counters" and "event" in commit_effects


def test_a_deleted_project_moves_its_members_counters_first(member, commit_effects, committed):
    project = project_create(actor=member, name="Garden")
    commit_effects.clear()

    with committed():
        project_delete(actor=member, project_id=project.pk)

    assert commit_effects[0] == "counters" and "event" in commit_effects
