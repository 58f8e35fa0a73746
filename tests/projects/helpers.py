"""Helpers only the project tests use; the shared ones are in tests/helpers.py."""

from typing import Any

from tests.helpers import page

PROJECTS_URL = "/api/v1/projects/"
LABELS_URL = "/api/v1/labels/"

PROJECT_SHAPE = {
    "id",
    "name",
    "description",
    "is_personal",
    "is_archived",
    "role",
    "members_count",
    "created_at",
    "updated_at",
    "version",
}
MEMBER_SHAPE = {"user", "role", "added_at"}
LABEL_SHAPE = {"id", "project", "name", "color"}


def _pk(obj: Any) -> Any:
    return obj["id"] if isinstance(obj, dict) else getattr(obj, "pk", obj)


def project_url(project: Any) -> str:
    return f"{PROJECTS_URL}{_pk(project)}/"


def members_url(project: Any) -> str:
    return f"{project_url(project)}members/"


def member_url(project: Any, user: Any) -> str:
    return f"{members_url(project)}{_pk(user)}/"


def labels_url(project: Any) -> str:
    return f"{project_url(project)}labels/"


def label_url(label: Any) -> str:
    return f"{LABELS_URL}{_pk(label)}/"


def project_etag(project: Any) -> str:
    project.refresh_from_db()
    return f'"{project.pk}-{project.version}"'


def members(client: Any, project: Any) -> dict[str, str]:
    """username -> role, as `client` reads the project's members."""
    return {
        m["user"]["username"]: m["role"] for m in page(client.get(members_url(project)))["results"]
    }


def listed(client: Any, params: dict[str, Any] | None = None) -> list[tuple[str, str | None]]:
    """(name, role) of the projects `client` lists, in order."""
    return [(p["name"], p["role"]) for p in page(client.get(PROJECTS_URL, params or {}))["results"]]


def join(project: Any, user: Any, role: str = "member") -> Any:
    """Add `user` to `project` with `role` through the service (as its first admin),
    with the after-commit effects run as a request's would be."""
    from django.test import TestCase

    from projects.models import Membership
    from projects.services import member_add

    admin = Membership.objects.filter(project=project, role="admin").order_by("id").first()
    with TestCase.captureOnCommitCallbacks(execute=True):
        return member_add(
            actor=admin.user, project_id=project.pk, identifier=user.username, role=role
        )


def new_project(owner: Any, name: str, *others: tuple[Any, str]) -> Any:
    """A shared project `owner` created (its admin), with `(user, role)` members."""
    from django.test import TestCase

    from projects.services import project_create

    with TestCase.captureOnCommitCallbacks(execute=True):
        project = project_create(actor=owner, name=name)
    for user, role in others:
        join(project, user, role)
    project.refresh_from_db()
    return project


def archive(project: Any) -> None:
    """Archive `project` through the service, as its first admin."""
    from django.test import TestCase

    from projects.models import Membership
    from projects.services import project_update

    admin = Membership.objects.filter(project=project, role="admin").order_by("id").first()
    with TestCase.captureOnCommitCallbacks(execute=True):
        project_update(actor=admin.user, project_id=project.pk, data={"is_archived": True})
    project.refresh_from_db()
