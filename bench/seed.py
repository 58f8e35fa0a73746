"""The accounts and tasks `make bench` drives, made through the application's own
services (the same doors as the API: groups, sessions and tokens, task events).

Run by bench/run.py with the application's settings and the bench database in the
environment; prints one JSON object (user ids, access tokens, task ids) on stdout.
The bulk rows (the cost curve's tasks, the shared projects of `list_projects`, the
big project's members) are not made here but with SQL (bench/run.py).
"""

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.roles import Role  # noqa: E402
from accounts.services import session_start, user_register, user_set_role  # noqa: E402
from projects.models import Project, ProjectRole  # noqa: E402
from projects.services import (  # noqa: E402
    label_create,
    member_add,
    personal_project_create,
    project_create,
)
from tasks import positions  # noqa: E402
from tasks.models import Relation, Task  # noqa: E402
from tasks.services import relation_create, task_create  # noqa: E402

PASSWORD = "Bench-Copper-Lantern-42"  # noqa: S105 (throw-away accounts)
PRIORITIES = [Task.Priority.LOW, Task.Priority.MEDIUM, Task.Priority.HIGH]
STATUSES = [Task.Status.PENDING, Task.Status.IN_PROGRESS, Task.Status.COMPLETED]


def member(username: str) -> User:
    return user_register(username=username, email=f"{username}@example.com", password=PASSWORD)


def access_token(user: User) -> str:
    return session_start(user=user, ip="127.0.0.1", user_agent="bench").access


def varied_tasks(
    owner: User,
    count: int,
    labels: list[int] | None = None,
    parents: dict[int, int] | None = None,
) -> list[int]:
    """Tasks as a person has them: mixed priorities and statuses, some due soon, some
    overdue; each made by the create service, so each has its event. With `labels`,
    task i carries 2 or 3 of them; `parents` maps i to the index of its parent, an
    earlier task."""
    now = timezone.now()
    ids: list[int] = []
    for i in range(count):
        due = now + timedelta(days=(i % 30) - 5) if i % 3 == 0 else None
        chosen = [labels[(i + k) % len(labels)] for k in range(2 + i % 2)] if labels else None
        parent = ids[parents[i]] if parents and i in parents else None
        task = task_create(
            actor=owner,
            title=f"{owner.username} task {i}",
            description="Seeded by bench/seed.py." if i % 2 else "",
            priority=PRIORITIES[i % 3],
            status=STATUSES[(i // 3) % 3],
            due_date=due,
            labels=chosen,
            parent=parent,
        )
        ids.append(task.pk)
    return ids


LABELS = ["bug", "feature", "docs", "urgent", "backend", "frontend"]


def collab_tasks(owner: User, count: int) -> dict[str, Any]:
    """`varied_tasks` (the same titles, statuses, priorities and due dates) with what
    issue 24 adds, through the services: every task carries 2 or 3 of six labels of
    the owner's personal project; every third one is a subtask of one of the two
    made just before it (top-level tasks); every fourth is blocked by the task made
    before it and every fifth relates to the third before it. A blocker that is
    completed blocks nothing, so `blocked` counts the tasks it left blocked."""
    project = personal_project_create(user=owner)
    labels = [
        label_create(actor=owner, project_id=project.pk, name=name, color=f"#{i:02x}8040")
        for i, name in enumerate(LABELS)
    ]
    parents = {i: i - 1 - (i // 3) % 2 for i in range(count) if i % 3 == 2}
    ids = varied_tasks(owner, count, [label.pk for label in labels], parents)
    relations = 0
    for i in range(1, count):
        pairs = []
        if i % 4 == 1:
            pairs.append((i - 1, Relation.Kind.BLOCKS))
        if i % 5 == 0 and i >= 3:
            pairs.append((i - 3, Relation.Kind.RELATES_TO))
        for other, kind in pairs:
            task = Task.objects.get(pk=ids[other])
            relation_create(actor=owner, task=task, kind=kind, other_id=ids[i])
            relations += 1
    mine = Task.objects.filter(owner_id=owner.pk)
    return {
        "ids": ids,
        "labels": len(labels),
        "subtasks": mine.filter(parent__isnull=False).count(),
        "blocked": mine.filter(open_blockers__gt=0).count(),
        "relations": relations,
    }


def comment_users(tasks: int) -> dict[str, Any]:
    """The accounts of `comment_create`: "Bench comment project" of
    `bench_collab_admin`, who owns its `tasks` tasks; `bench_commenter` (role member)
    comments on them mentioning `bench_collab_mate` (member)."""
    admin, commenter, mate = (
        member(name) for name in ("bench_collab_admin", "bench_commenter", "bench_collab_mate")
    )
    project = project_create(actor=admin, name="Bench comment project")
    for user in (commenter, mate):
        member_add(
            actor=admin, project_id=project.pk, identifier=user.username, role=ProjectRole.MEMBER
        )
    return {
        "users": {"commenter": commenter.pk, "collab_admin": admin.pk, "collab_mate": mate.pk},
        "tokens": {"commenter": access_token(commenter)},
        "tasks": {"comment": plain_tasks(admin, tasks, project)},
        "mention": mate.username,
    }


def plain_tasks(owner: User, count: int, project: Project | None = None) -> list[int]:
    """Pending tasks at version 1 for the write scenarios, in `project` (by default
    the owner's personal one); their events are not needed: the checks count the
    events the scenario adds."""
    if project is None:
        project = personal_project_create(user=owner)
    with transaction.atomic():
        last = (
            Task.objects.filter(project_id=project.pk)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        keys = []
        for _ in range(count):
            last = positions.after(last)
            keys.append(last)
        tasks = Task.objects.bulk_create(
            Task(
                title=f"{owner.username} task {i}",
                owner_id=owner.pk,
                project_id=project.pk,
                position=keys[i],
            )
            for i in range(count)
        )
    return sorted(task.pk for task in tasks)


def project_users(patch_tasks: int, fanout_tasks: int, listeners: int) -> dict[str, Any]:
    """The accounts of the project scenarios: `bench_projects_reader` (bench/run.py
    makes them a member of the shared projects, by SQL), and two projects of
    `bench_project_admin`: "Bench big project", where `bench_project_patcher` (role
    member) owns `patch_tasks` tasks (run.py adds the crowd of members by SQL), and
    "Bench fan-out project", where `bench_project_fanout` (member) owns `fanout_tasks`
    tasks and the `listeners` members hold the sockets."""
    reader, admin, patcher, fanout = (
        member(name)
        for name in (
            "bench_projects_reader",
            "bench_project_admin",
            "bench_project_patcher",
            "bench_project_fanout",
        )
    )
    big = project_create(actor=admin, name="Bench big project")
    room = project_create(actor=admin, name="Bench fan-out project")
    listening = [member(f"bench_listener{i}") for i in range(listeners)]
    for project, user in [(big, patcher), (room, fanout), *((room, u) for u in listening)]:
        member_add(
            actor=admin, project_id=project.pk, identifier=user.username, role=ProjectRole.MEMBER
        )
    return {
        "users": {
            "projects_reader": reader.pk,
            "project_patcher": patcher.pk,
            "project_fanout": fanout.pk,
        },
        "tokens": {
            "projects_reader": access_token(reader),
            "project_patcher": access_token(patcher),
            "project_fanout": access_token(fanout),
        },
        "listener_tokens": [access_token(user) for user in listening],
        "tasks": {
            "project_patcher": plain_tasks(patcher, patch_tasks, big),
            "project_fanout": plain_tasks(fanout, fanout_tasks, room),
        },
        "projects": {"big": big.pk, "fanout": room.pk},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--list-tasks", type=int, default=100)
    parser.add_argument("--patch-tasks", type=int, default=256)
    parser.add_argument("--fanout-tasks", type=int, default=100)
    parser.add_argument("--bulk-tasks", type=int, default=100)
    parser.add_argument("--managers", type=int, default=20)
    parser.add_argument(
        "--project-listeners",
        type=int,
        default=0,
        help="with more than 0, also the accounts and projects of the project scenarios",
    )
    args = parser.parse_args()

    reader, creator, patcher, fanout, collab_reader, bulk = (
        member(name)
        for name in (
            "bench_reader",
            "bench_creator",
            "bench_patcher",
            "bench_fanout",
            "bench_collab_reader",
            "bench_bulk",
        )
    )
    managers = [member(f"bench_manager{i}") for i in range(args.managers)]
    for manager in managers:
        user_set_role(user=manager, role=Role.MANAGER)
    result: dict[str, Any] = {
        "users": {
            "reader": reader.pk,
            "creator": creator.pk,
            "patcher": patcher.pk,
            "fanout": fanout.pk,
            "collab_reader": collab_reader.pk,
            "bulk": bulk.pk,
        },
        "tokens": {
            "reader": access_token(reader),
            "creator": access_token(creator),
            "patcher": access_token(patcher),
            "fanout": access_token(fanout),
            "collab_reader": access_token(collab_reader),
            "bulk": access_token(bulk),
        },
        "manager_tokens": [access_token(manager) for manager in managers],
        "tasks": {
            "reader": varied_tasks(reader, args.list_tasks),
            "patcher": plain_tasks(patcher, args.patch_tasks),
            "fanout": plain_tasks(fanout, args.fanout_tasks),
            "bulk": plain_tasks(bulk, args.bulk_tasks),
        },
    }
    # Issue 24: the list with labels, subtasks and relations, and the comments.
    collab = collab_tasks(collab_reader, args.list_tasks)
    result["tasks"]["collab_reader"] = collab.pop("ids")
    result["collab"] = collab
    comments = comment_users(args.list_tasks)
    for key in ("users", "tokens", "tasks"):
        result[key].update(comments[key])
    result["mention"] = comments["mention"]
    if args.project_listeners > 0:
        projects = project_users(args.patch_tasks, args.fanout_tasks, args.project_listeners)
        for key in ("users", "tokens", "tasks"):
            result[key].update(projects[key])
        result["listener_tokens"] = projects["listener_tokens"]
        result["projects"] = projects["projects"]
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
