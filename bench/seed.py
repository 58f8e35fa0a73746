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
    member_add,
    personal_project_create,
    project_create,
)
from tasks.models import Task  # noqa: E402
from tasks.services import task_create  # noqa: E402

PASSWORD = "Bench-Copper-Lantern-42"  # noqa: S105 (throw-away accounts)
PRIORITIES = [Task.Priority.LOW, Task.Priority.MEDIUM, Task.Priority.HIGH]
STATUSES = [Task.Status.PENDING, Task.Status.IN_PROGRESS, Task.Status.COMPLETED]


def member(username: str) -> User:
    return user_register(username=username, email=f"{username}@example.com", password=PASSWORD)


def access_token(user: User) -> str:
    return session_start(user=user, ip="127.0.0.1", user_agent="bench").access


def varied_tasks(owner: User, count: int) -> list[int]:
    """Tasks as a person has them: mixed priorities and statuses, some due soon, some
    overdue; each made by the create service, so each has its event."""
    now = timezone.now()
    ids = []
    for i in range(count):
        due = now + timedelta(days=(i % 30) - 5) if i % 3 == 0 else None
        task = task_create(
            actor=owner,
            title=f"{owner.username} task {i}",
            description="Seeded by bench/seed.py." if i % 2 else "",
            priority=PRIORITIES[i % 3],
            status=STATUSES[(i // 3) % 3],
            due_date=due,
        )
        ids.append(task.pk)
    return ids


def plain_tasks(owner: User, count: int, project: Project | None = None) -> list[int]:
    """Pending tasks at version 1 for the write scenarios, in `project` (by default
    the owner's personal one); their events are not needed: the checks count the
    events the scenario adds."""
    if project is None:
        project = personal_project_create(user=owner)
    with transaction.atomic():
        tasks = Task.objects.bulk_create(
            Task(title=f"{owner.username} task {i}", owner_id=owner.pk, project_id=project.pk)
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
    parser.add_argument("--managers", type=int, default=20)
    parser.add_argument(
        "--project-listeners",
        type=int,
        default=0,
        help="with more than 0, also the accounts and projects of the project scenarios",
    )
    args = parser.parse_args()

    reader, creator, patcher, fanout = (
        member(name) for name in ("bench_reader", "bench_creator", "bench_patcher", "bench_fanout")
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
        },
        "tokens": {
            "reader": access_token(reader),
            "creator": access_token(creator),
            "patcher": access_token(patcher),
            "fanout": access_token(fanout),
        },
        "manager_tokens": [access_token(manager) for manager in managers],
        "tasks": {
            "reader": varied_tasks(reader, args.list_tasks),
            "patcher": plain_tasks(patcher, args.patch_tasks),
            "fanout": plain_tasks(fanout, args.fanout_tasks),
        },
    }
    if args.project_listeners > 0:
        projects = project_users(args.patch_tasks, args.fanout_tasks, args.project_listeners)
        for key in ("users", "tokens", "tasks"):
            result[key].update(projects[key])
        result["listener_tokens"] = projects["listener_tokens"]
        result["projects"] = projects["projects"]
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
