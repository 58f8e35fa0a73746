"""Helpers for the tests of labels on tasks, subtasks, relations and their filters
(issue 24): writes that commit as a request's would, snapshots of everything a
refused request must leave alone, and the events recorded since a mark.

Each test module makes its own fixtures from these (pytest finds fixtures in
conftest files and in the module, and an imported fixture shadowed by an argument
is a lint error): `viewer`, `outsider` and the project "Garden" of
tests/projects/conftest.py.
"""

from typing import Any, cast

from django.db.models import Max
from django.test import TestCase

from accounts.models import User
from activity.models import Event
from projects.models import Label, Project
from projects.services import label_create
from tasks.models import Relation, Task
from tests.factories import UserFactory
from tests.helpers import TASKS_URL, task_url
from tests.projects.helpers import new_project

TaskLabel = Task.labels.through


# --- people and projects --------------------------------------------------------------


def make_viewer() -> User:
    return cast(User, UserFactory(username="vera", email="vera@example.com"))


def make_outsider() -> User:
    return cast(User, UserFactory(username="oscar", email="oscar@example.com"))


def garden(member: User, other_member: User, viewer: User) -> Project:
    """ "Garden": Mia its admin, Otto a member, Vera a viewer."""
    return new_project(member, "Garden", (other_member, "member"), (viewer, "viewer"))


def make_label(project: Project, name: str, actor: User | None = None) -> Label:
    """A label of `project`, made by its first admin unless `actor` is given."""
    if actor is None:
        first_admin = project.memberships.filter(role="admin").order_by("id").first()
        assert first_admin is not None
        actor = first_admin.user
    return label_create(actor=actor, project_id=project.pk, name=name, color="#00aa00")


# --- requests -------------------------------------------------------------------------


def _pk(obj: Any) -> Any:
    return obj["id"] if isinstance(obj, dict) else getattr(obj, "pk", obj)


def relations_url(task: Any) -> str:
    return f"{task_url(_pk(task))}relations/"


def relation_url(task: Any, relation: Any) -> str:
    return f"{relations_url(task)}{_pk(relation)}/"


def write(client: Any, method: str, url: str, body: Any = None, **extra: Any) -> Any:
    """A write request whose after-commit effects (cache invalidation) run, as a
    real request's do when it commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        if body is None:
            return getattr(client, method)(url, **extra)
        return getattr(client, method)(url, body, format="json", **extra)


def create(client: Any, **body: Any) -> dict[str, Any]:
    """POST tasks/ with `body`; asserts 201 and returns the task."""
    response = write(client, "post", TASKS_URL, {"title": "A task", **body})
    assert response.status_code == 201, response.content
    return response.json()


def patch(client: Any, task: Any, **body: Any) -> dict[str, Any]:
    """PATCH the task with `body`; asserts 200 and returns the task."""
    response = write(client, "patch", task_url(_pk(task)), body)
    assert response.status_code == 200, response.content
    return response.json()


def read(client: Any, task: Any) -> dict[str, Any]:
    response = client.get(task_url(_pk(task)))
    assert response.status_code == 200, response.content
    return response.json()


def relate(client: Any, task: Any, other: Any, kind: str = "blocks") -> dict[str, Any]:
    """`task` `kind` `other` through the API; asserts 201 and returns the relation."""
    response = write(client, "post", relations_url(task), {"kind": kind, "task": _pk(other)})
    assert response.status_code == 201, response.content
    return response.json()


# --- the database ---------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """Every task row (all columns), the label table, the relations and the events:
    what a refused request must leave exactly as it was."""
    return {
        "tasks": list(Task.objects.order_by("id").values()),
        "task_labels": list(TaskLabel.objects.order_by("id").values_list("task_id", "label_id")),
        "relations": list(Relation.objects.order_by("id").values()),
        "events": Event.objects.aggregate(last=Max("id"))["last"],
    }


def mark() -> int:
    """The last event's id: `events_since(mark)` are the events recorded after it."""
    return Event.objects.aggregate(last=Max("id"))["last"] or 0


def events_since(since: int, *, type: str | None = None, subject: Any = None) -> list[Event]:
    """The events after `since`, oldest first: of one `type`, and (`subject`) of one
    task, whose id a relation's event may share."""
    events = Event.objects.filter(id__gt=since).order_by("id")
    if type is not None:
        events = events.filter(type=type)
    if subject is not None:
        events = events.filter(subject_id=_pk(subject), type__startswith="task.")
    return list(events)


def row(task: Any) -> Task:
    return Task.objects.get(pk=_pk(task))


def label_rows(task: Any) -> list[int]:
    """The task's labels in the label table (what `?label=` reads), ascending."""
    return sorted(TaskLabel.objects.filter(task_id=_pk(task)).values_list("label_id", flat=True))
