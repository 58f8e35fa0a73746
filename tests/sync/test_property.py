"""Property: whatever users do, in whatever order, and however a client's syncing falls
between their changes and the pages, a client that applies every page as docs/sync.md
says ends, once synced to the end, with exactly what the API's own reads show its user.

Each example makes three new users (Ann is the one who syncs, Ben and Cat act beside
her) and their projects, then runs a drawn list of operations: tasks created (some as
subtasks, some with labels), changed, moved between projects, deleted and changed in
bulk (through /tasks/bulk/), comments written and deleted, labels created and deleted,
members added (as members, viewers or admins) and removed, projects created, archived
and deleted, and Ann's syncs, a page or all of them at once. Writes go through the
services (each its own transaction, as requests are) by a user the project lets do
them; one the rules refuse changes nothing and is skipped. The page size and the
event reads are drawn small as well as real, so that pages end often, inside
snapshots and between transactions.
"""

import contextlib
import itertools
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import User
from comments.models import Comment
from comments.services import comment_create, comment_delete
from projects.models import WRITE_ROLES, Label, Membership, Project, ProjectRole
from projects.services import (
    label_create,
    label_delete,
    member_add,
    member_remove,
    project_create,
    project_delete,
    project_update,
)
from sync import pages
from taskmanager.exceptions import DomainError
from tasks.models import Task
from tasks.services import task_create, task_delete, task_update
from tests.factories import UserFactory
from tests.sync.helpers import Replica, api_view, sync_page

# Each write commits on its own (transaction keys differ, as between requests); the
# database is not rolled back between examples, so each makes users of its own.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

_names = itertools.count()

OPERATIONS = (
    "create",
    "create",
    "update",
    "update",
    "move",
    "delete",
    "bulk",
    "comment",
    "uncomment",
    "label",
    "unlabel",
    "join",
    "leave",
    "new_project",
    "delete_project",
    "archive",
    "sync_page",
    "sync_page",
    "sync_all",
)
# (operation, then three numbers that pick its actor, its object and a variant).
operations = st.lists(
    st.tuples(
        st.sampled_from(OPERATIONS),
        st.integers(0, 11),
        st.integers(0, 11),
        st.integers(0, 11),
    ),
    min_size=1,
    max_size=30,
)
# Who a drawn number picks (World.user): Ann, Ben or Cat.
WHO = (0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2)
page_sizes = st.tuples(
    st.sampled_from([1, 2, 3, 7, pages.PAGE_CHANGES]),
    st.sampled_from([1, 3, pages.EVENTS_PER_READ]),
    st.sampled_from([2, 5, pages.EVENTS_PER_PAGE]),
)


class World:
    """The users and projects of one example, and Ann's copy."""

    def __init__(self, starts_synced: bool) -> None:
        n = next(_names)
        self.ann, self.ben, self.cat = (
            UserFactory(username=f"ann{n}", email=f"ann{n}@example.com"),
            UserFactory(username=f"ben{n}", email=f"ben{n}@example.com"),
            UserFactory(username=f"cat{n}", email=f"cat{n}@example.com"),
        )
        self.users = [self.ann, self.ben, self.cat]
        self.projects: list[int] = [user.personal_project.pk for user in self.users]
        # A project of Ann's that Ben is in, and one of Ben's with Cat that Ann is not.
        shared = project_create(actor=self.ann, name="Garden")
        member_add(
            actor=self.ann, project_id=shared.pk, identifier=self.ben.username, role="member"
        )
        shed = project_create(actor=self.ben, name="Shed")
        member_add(actor=self.ben, project_id=shed.pk, identifier=self.cat.username, role="member")
        self.projects += [shared.pk, shed.pk]
        first = task_create(actor=self.ben, title="Dig", project=shared)
        hidden = task_create(actor=self.cat, title="Oil", project=shed)
        comment_create(actor=self.cat, task=hidden, body="Hinges first")
        comment_create(actor=self.ann, task=first, body="Deep enough?")
        self.client = APIClient()
        self.client.force_authenticate(self.ann)
        self.replica = Replica()
        # The changes that follow find her with a copy, or in the middle of her
        # snapshot (small pages).
        if starts_synced:
            self.replica.sync(self.client)
        else:
            self.sync_page(0, 0, 0)

    # --- what there is --------------------------------------------------------------

    def pick(self, items: list[Any], index: int) -> Any:
        return items[index % len(items)] if items else None

    def user(self, index: int) -> User:
        """Ann half of the time: what she does and what is done to her matter most."""
        return self.users[WHO[index % len(WHO)]]

    def live_projects(self) -> list[Project]:
        return list(Project.objects.filter(pk__in=self.projects).order_by("pk"))

    def role(self, user: User, project_id: int) -> str | None:
        return (
            Membership.objects.filter(project_id=project_id, user=user)
            .values_list("role", flat=True)
            .first()
        )

    def writable(self, user: User) -> list[Project]:
        """The projects the user may add tasks to (not archived)."""
        return [
            p
            for p in self.live_projects()
            if not p.is_archived and self.role(user, p.pk) in WRITE_ROLES
        ]

    def tasks(self) -> list[Task]:
        return list(Task.objects.filter(project_id__in=self.projects).order_by("pk"))

    def writer_of(self, project_id: int, preferred: int) -> User | None:
        """A user who writes in the project, starting the search at `preferred`."""
        first = WHO[preferred % len(WHO)]
        for offset in range(len(self.users)):
            user = self.users[(first + offset) % len(self.users)]
            if self.role(user, project_id) in WRITE_ROLES:
                return user
        return None

    def admin_of(self, project_id: int) -> User | None:
        for user in self.users:
            if self.role(user, project_id) == ProjectRole.ADMIN:
                return user
        return None

    # --- the operations -------------------------------------------------------------

    def create(self, a: int, b: int, c: int) -> None:
        actor = self.user(a)
        project = self.pick(self.writable(actor), b)
        if project is None:
            return
        inside = [t for t in self.tasks() if t.project_id == project.pk]
        labels = list(Label.objects.filter(project=project).values_list("pk", flat=True))
        parent = self.pick(inside, c) if c % 3 == 0 else None
        task_create(
            actor=actor,
            title=f"Task {next(_names)}",
            project=project,
            parent=parent.pk if parent else None,
            labels=labels[:1] if c % 2 else [],
        )

    def update(self, a: int, b: int, c: int) -> None:
        task = self.pick(self.tasks(), b)
        actor = task and self.writer_of(task.project_id, a)
        if task is None or actor is None:
            return
        labels = list(Label.objects.filter(project_id=task.project_id).values_list("pk", flat=True))
        assignee = self.writer_of(task.project_id, c)
        changes: list[dict[str, Any]] = [
            {"title": f"Renamed {next(_names)}"},
            {"status": ["pending", "in_progress", "completed"][c % 3]},
            {"priority": ["low", "medium", "high"][c % 3]},
            {"labels": labels[: c % 3]},
            {"assignee": assignee if c % 2 else None},
            {"parent": None},
        ]
        task_update(actor=actor, task_id=task.pk, data=changes[c % len(changes)])

    def move(self, a: int, b: int, c: int) -> None:
        task = self.pick(self.tasks(), b)
        actor = task and self.writer_of(task.project_id, a)
        if task is None or actor is None:
            return
        targets = [p for p in self.writable(actor) if p.pk != task.project_id]
        if c % 2:
            # Into Ann's sight first (or out of it): what changes what she sees.
            targets.sort(key=lambda p: self.role(self.ann, p.pk) is None)
        target = self.pick(targets, c // 2)
        if target is not None:
            task_update(actor=actor, task_id=task.pk, data={"project": target})

    def delete(self, a: int, b: int, c: int) -> None:
        task = self.pick(self.tasks(), b)
        actor = task and self.writer_of(task.project_id, a)
        if task is not None and actor is not None:
            task_delete(actor=actor, task_id=task.pk)

    def bulk(self, a: int, b: int, c: int) -> None:
        """Through the API, as a client sends it: up to 5 tasks the actor writes."""
        actor = self.user(a)
        mine = [p.pk for p in self.writable(actor)]
        tasks = [t.pk for t in self.tasks() if t.project_id in mine]
        if not tasks:
            return
        ids = [tasks[(b + step) % len(tasks)] for step in range(1 + c % 5)]
        target = self.pick(mine, b + c)
        changes = [
            {"status": "completed"},
            {"status": "pending"},
            {"priority": "high"},
            {"project": target},
        ]
        client = APIClient()
        client.force_authenticate(actor)
        response = client.post(
            "/api/v1/tasks/bulk/",
            {"ids": sorted(set(ids)), "set": changes[c % len(changes)]},
            format="json",
        )
        assert response.status_code in (200, 400), response.content

    def comment(self, a: int, b: int, c: int) -> None:
        task = self.pick(self.tasks(), b)
        actor = self.user(a)
        if task is not None and self.role(actor, task.project_id) in WRITE_ROLES:
            comment_create(actor=actor, task=task, body=f"Note {next(_names)} @{self.ann}")

    def uncomment(self, a: int, b: int, c: int) -> None:
        comments = list(
            Comment.objects.filter(task__project_id__in=self.projects, author__isnull=False)
            .select_related("author")
            .order_by("pk")
        )
        comment = self.pick(comments, b)
        if comment is not None:
            comment_delete(actor=comment.author, comment_id=comment.pk)

    def label(self, a: int, b: int, c: int) -> None:
        actor = self.user(a)
        project = self.pick(self.writable(actor), b)
        if project is not None:
            label_create(
                actor=actor, project_id=project.pk, name=f"L{next(_names)}", color="#00aa00"
            )

    def unlabel(self, a: int, b: int, c: int) -> None:
        label = self.pick(list(Label.objects.filter(project_id__in=self.projects)), b)
        actor = label and self.writer_of(label.project_id, a)
        if label is not None and actor is not None:
            label_delete(actor=actor, label_id=label.pk)

    def join(self, a: int, b: int, c: int) -> None:
        shared = [p for p in self.live_projects() if not p.is_personal]
        project = self.pick(shared, b)
        admin = project and self.admin_of(project.pk)
        user = self.user(a)
        if project is None or admin is None or self.role(user, project.pk) is not None:
            return
        role = ["member", "viewer", "admin"][c % 3]
        member_add(actor=admin, project_id=project.pk, identifier=user.username, role=role)

    def leave(self, a: int, b: int, c: int) -> None:
        project = self.pick([p for p in self.live_projects() if not p.is_personal], b)
        user = self.user(a)
        admin = project and self.admin_of(project.pk)
        if project is None or admin is None or self.role(user, project.pk) is None:
            return
        member_remove(actor=admin, project_id=project.pk, user_id=user.pk)

    def new_project(self, a: int, b: int, c: int) -> None:
        project = project_create(actor=self.user(a), name=f"Project {next(_names)}")
        self.projects.append(project.pk)

    def delete_project(self, a: int, b: int, c: int) -> None:
        project = self.pick([p for p in self.live_projects() if not p.is_personal], b)
        admin = project and self.admin_of(project.pk)
        if project is not None and admin is not None:
            project_delete(actor=admin, project_id=project.pk)

    def archive(self, a: int, b: int, c: int) -> None:
        project = self.pick([p for p in self.live_projects() if not p.is_personal], b)
        admin = project and self.admin_of(project.pk)
        if project is not None and admin is not None:
            project_update(
                actor=admin, project_id=project.pk, data={"is_archived": not project.is_archived}
            )

    def sync_page(self, a: int, b: int, c: int) -> None:
        body = sync_page(self.client, self.replica.cursor)
        self.replica.apply(body["changes"])
        self.replica.cursor = body["cursor"]

    def sync_all(self, a: int, b: int, c: int) -> None:
        self.replica.sync(self.client)
        assert self.replica.objects == api_view(self.client)

    def run(self, name: str, a: int, b: int, c: int) -> None:
        operation: Callable[[int, int, int], None] = getattr(self, name)
        # One the rules refuse (an assignee not in the target project...) changes nothing.
        with contextlib.suppress(DomainError):
            operation(a, b, c)


@pytest.fixture
def unthrottled(settings: Any) -> None:
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "read": "1000000/min",
        "write": "1000000/min",
        "bulk_tasks": "1000000/min",
    }


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations, sizes=page_sizes, starts_synced=st.booleans())
def test_a_synced_copy_ends_equal_to_what_the_api_shows(
    unthrottled: None,
    steps: list[tuple[str, int, int, int]],
    sizes: tuple[int, int, int],
    starts_synced: bool,
) -> None:
    page_changes, events_per_read, events_per_page = sizes
    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(pages, "PAGE_CHANGES", page_changes))
        patches.enter_context(mock.patch.object(pages, "EVENTS_PER_READ", events_per_read))
        patches.enter_context(mock.patch.object(pages, "EVENTS_PER_PAGE", events_per_page))
        world = World(starts_synced)
        for name, a, b, c in steps:
            world.run(name, a, b, c)
        world.replica.sync(world.client)

        assert world.replica.objects == api_view(world.client)
