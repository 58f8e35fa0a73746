"""projects/0002, tasks/0004 and activity/0005 on a database of version 1: every user
gets a personal project, every task a project, and nobody loses sight of a task or of
an event they could read (DESIGN.md, "Projects and membership")."""

from collections.abc import Iterable
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User
from activity.models import Event
from activity.selectors import events_visible_to
from projects.models import Membership, Project
from tasks.models import Task
from tasks.selectors import task_visible_to

# Version 1: no projects app; tasks without `project`, events without `project_id`.
BEFORE = [
    ("projects", None),
    ("tasks", "0003_delete_taskevent"),
    ("activity", "0003_admin_role_can_view_events"),
]
STATE_BEFORE = [
    ("accounts", "0006_compute_name_skeletons"),
    ("tasks", "0003_delete_taskevent"),
    ("activity", "0003_admin_role_can_view_events"),
]


def migrate(targets: list[tuple[str, str | None]] | None = None) -> MigrationExecutor:
    """Migrate to `targets` (the leaf nodes by default), with a freshly read graph."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return MigrationExecutor(connection)


def snapshot(task: Any) -> dict[str, Any]:
    """The task as version 1's events held it."""
    return {
        "id": task.pk,
        "title": task.title,
        "description": "",
        "priority": "medium",
        "status": "pending",
        "due_date": None,
        "owner": task.owner_id,
        "assignee": task.assignee_id,
        "created_at": "2026-01-02T03:04:05.678901Z",
        "updated_at": "2026-01-02T03:04:05.678901Z",
        "completed_at": None,
        "version": 1,
    }


def seed_version_1() -> dict[str, Any]:
    """Users, tasks and task events as version 1 wrote them, through the models of
    before. Their ids, by name."""
    apps = migrate(BEFORE).loader.project_state(STATE_BEFORE).apps
    OldUser = apps.get_model("accounts", "User")
    Group = apps.get_model("auth", "Group")
    OldTask = apps.get_model("tasks", "Task")
    OldEvent = apps.get_model("activity", "Event")

    users = {
        name: OldUser.objects.create(username=name, email=f"{name}@example.com", password="!")
        for name in ("ann", "bob", "cy", "dee", "eve", "mo")
    }
    OldUser.objects.filter(pk=users["eve"].pk).update(is_active=False)
    users["mo"].groups.add(Group.objects.get(name="manager"))
    ann, bob, cy, dee, eve = (users[n] for n in ("ann", "bob", "cy", "dee", "eve"))

    def task(title: str, owner: Any, assignee: Any = None) -> Any:
        return OldTask.objects.create(title=title, owner=owner, assignee=assignee)

    tasks = {
        "ann_own": task("Ann's own", ann),
        "ann_herself": task("Ann for herself", ann, ann),
        "ann_bob": task("Ann for Bob", ann, bob),
        "ann_bob_again": task("Ann for Bob again", ann, bob),
        "ann_cy": task("Ann for Cy", ann, cy),
        "cy_ann": task("Cy for Ann", cy, ann),
        "cy_own": task("Cy's own", cy),
        "eve_own": task("Eve's own", eve),
    }
    gone = task("Deleted since", ann, bob)

    def event(kind: str, subject: Any, actor: Any, **columns: Any) -> Any:
        return OldEvent.objects.create(
            type=f"task.{kind}",
            subject_id=subject.pk,
            actor=actor,
            data=snapshot(subject),
            changes=columns.pop("changes", {}),
            **columns,
        )

    events: dict[str, Any] = {}
    for name, item in tasks.items():
        events[f"{name}.created"] = event(
            "created", item, item.owner, owner=item.owner, assignee=item.assignee
        )
    # Ann's task went from Dee to Bob: Dee read that change (previous assignee).
    events["ann_bob.reassigned"] = event(
        "updated",
        tasks["ann_bob"],
        ann,
        owner=ann,
        assignee=bob,
        previous_assignee=dee,
        changes={"assignee": [dee.pk, bob.pk]},
    )
    events["gone.created"] = event("created", gone, ann, owner=ann, assignee=bob)
    events["gone.updated"] = event(
        "updated", gone, None, owner=ann, assignee=bob, changes={"title": ["Old", "New"]}
    )
    events["gone.deleted"] = event("deleted", gone, ann, owner=ann, assignee=bob)
    gone_id = gone.pk
    gone.delete()

    return {
        "users": {name: user.pk for name, user in users.items()},
        "tasks": {
            name: {"id": t.pk, "owner": t.owner_id, "assignee": t.assignee_id}
            for name, t in tasks.items()
        },
        "gone": gone_id,
        "events": {
            name: {
                "id": e.pk,
                "subject": e.subject_id,
                "readers": {e.owner_id, e.assignee_id, e.previous_assignee_id} - {None},
            }
            for name, e in events.items()
        },
    }


def ids(rows: Iterable[Any]) -> set[int]:
    return {row.pk for row in rows}


def members(project: Project) -> dict[int, str]:
    return dict(Membership.objects.filter(project=project).values_list("user_id", "role"))


# Migrating rows needs committed transactions; the serialized rollback leaves the
# database as the next serialized test expects it.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_version_1_data_moves_into_projects_and_nobody_loses_sight_of_a_task_or_event():
    try:
        old = seed_version_1()

        migrate()

        users = {name: User.objects.get(pk=pk) for name, pk in old["users"].items()}
        tasks = {name: Task.objects.get(pk=t["id"]) for name, t in old["tasks"].items()}

        # Every user, active or not, has exactly one personal project, its admin alone.
        personal = {}
        for name, user in users.items():
            theirs = list(Project.objects.filter(personal_owner=user))
            assert len(theirs) == 1, name
            personal[name] = theirs[0]
            assert personal[name].name == "Personal", name
            assert members(personal[name]) == {user.pk: "admin"}, name

        # Own and unassigned tasks (and one assigned to its owner) are in the owner's
        # personal project.
        for name in ("ann_own", "ann_herself", "cy_own", "eve_own"):
            owner = next(n for n, u in users.items() if u.pk == tasks[name].owner_id)
            assert tasks[name].project_id == personal[owner].pk, name

        # Tasks assigned to others are in "Shared by <owner>": the owner admin, each
        # of those assignees a member, nobody else.
        shared_by_ann = tasks["ann_bob"].project
        assert shared_by_ann.name == "Shared by ann"
        assert not shared_by_ann.is_personal
        assert {tasks[n].project_id for n in ("ann_bob", "ann_bob_again", "ann_cy")} == {
            shared_by_ann.pk
        }
        assert members(shared_by_ann) == {
            users["ann"].pk: "admin",
            users["bob"].pk: "member",
            users["cy"].pk: "member",
        }
        shared_by_cy = tasks["cy_ann"].project
        assert shared_by_cy.name == "Shared by cy"
        assert not shared_by_cy.is_personal
        assert members(shared_by_cy) == {users["cy"].pk: "admin", users["ann"].pk: "member"}
        assert Project.objects.count() == len(users) + 2

        # Whoever saw a task in version 1 (owner, assignee, a manager) still sees it.
        for name, user in users.items():
            seen_before = {
                t["id"]
                for t in old["tasks"].values()
                if name == "mo" or user.pk in (t["owner"], t["assignee"])
            }
            seen_now = ids(task_visible_to(user))
            assert seen_before <= seen_now, name
        # ... and tasks nobody shared stay their owner's.
        assert ids(task_visible_to(users["bob"])) == ids(
            tasks[n] for n in ("ann_bob", "ann_bob_again", "ann_cy")
        )
        assert ids(task_visible_to(users["dee"])) == set()

        # Every event a user read in version 1 (owner, assignee, previous assignee, a
        # manager), a deleted task's too, they still read.
        every_event = {e["id"] for e in old["events"].values()}
        for name, user in users.items():
            read_before = {
                e["id"] for e in old["events"].values() if name == "mo" or user.pk in e["readers"]
            }
            read_now = set(events_visible_to(user).values_list("id", flat=True))
            assert read_before <= read_now, name
        # Dee read one change, as the previous assignee, and reads that one alone.
        read_by_dee = set(events_visible_to(users["dee"]).values_list("id", flat=True))
        assert read_by_dee & every_event == {old["events"]["ann_bob.reassigned"]["id"]}

        # The events of existing tasks belong to their projects; a deleted task's to none.
        for name, e in old["events"].items():
            event = Event.objects.get(pk=e["id"])
            if e["subject"] == old["gone"]:
                assert event.project_id is None, name
            else:
                assert event.project_id == Task.objects.get(pk=e["subject"]).project_id, name
    finally:
        migrate()
