"""tasks.selectors.writable_task_of: the task a write reads, compiled once for a
member, is the object `task_writable_view_of` gives: every column, its project
already read, the caller's role."""

from typing import Any

import pytest
from django.db.models import Model

from accounts.models import User
from projects.models import Project
from tasks.models import Task
from tasks.selectors import task_writable_view_of, writable_task_of
from tests.factories import TaskFactory, UserFactory
from tests.helpers import task_url
from tests.projects.helpers import new_project

pytestmark = pytest.mark.django_db


def concrete(instance: Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.fixture
def garden(member: User, other_member: User) -> tuple[Project, Task]:
    viewer = UserFactory(username="viewer")
    project = new_project(member, "Garden", (other_member, "member"), (viewer, "viewer"))
    task = TaskFactory(owner=other_member, project=project, title="Prune")
    return project, task


@pytest.mark.parametrize("who", ["member", "other_member", "viewer", "manager"])
def test_the_task_is_the_one_the_queryset_gives(
    who: str, garden: tuple[Project, Task], manager: User, django_assert_num_queries: Any
) -> None:
    project, task = garden
    user = {
        "member": project.memberships.get(role="admin").user,
        "other_member": task.owner,
        "viewer": User.objects.get(username="viewer"),
        "manager": manager,
    }[who]
    expected = task_writable_view_of(user).get(pk=task.pk)

    found = writable_task_of(user, task.pk)

    assert found is not None and not found._state.adding
    assert concrete(found) == concrete(expected)
    assert found.my_role == expected.my_role
    with django_assert_num_queries(0):
        assert concrete(found.project) == concrete(expected.project)


def test_a_task_outside_the_users_projects_or_none_at_all_is_none(
    garden: tuple[Project, Task], member: User
) -> None:
    _, task = garden
    outsider = UserFactory(username="outsider")
    own = TaskFactory(owner=outsider, title="Mine")

    assert writable_task_of(outsider, task.pk) is None
    assert writable_task_of(member, own.pk) is None
    assert writable_task_of(member, 10**12) is None
    assert writable_task_of(outsider, own.pk).pk == own.pk  # type: ignore[union-attr]


def test_writes_by_url_answer_404_outside_and_403_to_a_viewer(
    garden: tuple[Project, Task], client_for: Any
) -> None:
    _, task = garden
    viewer = client_for(User.objects.get(username="viewer"))
    outsider = client_for(UserFactory(username="outsider"))

    assert outsider.patch(task_url(task.pk), {"title": "x"}, format="json").status_code == 404
    assert viewer.patch(task_url(task.pk), {"title": "x"}, format="json").status_code == 403
    assert viewer.patch(task_url(2**63), {"title": "x"}, format="json").status_code == 404
    assert viewer.delete(task_url(task.pk)).status_code == 403
