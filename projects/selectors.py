from collections.abc import Iterable
from typing import Any

from django.db.models import Case, Count, OuterRef, QuerySet, Subquery, When

from accounts.models import User
from projects.models import WRITE_ROLES, Label, Membership, Project


def can_see_every_project(user: User) -> bool:
    return user.has_perm("projects.view_any_project")


def project_ids_of(user: User) -> QuerySet[Any]:
    """The ids of the projects the user belongs to, as a subquery."""
    return project_ids_of_member(user.pk)


def project_ids_of_member(user_id: int) -> QuerySet[Any]:
    """`project_ids_of` the user `user_id`: each project once."""
    return Membership.objects.filter(user_id=user_id).values("project_id")


def project_ids_of_many(user_ids: Iterable[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    rows = Membership.objects.filter(user_id__in=list(user_ids)).values_list(
        "user_id", "project_id"
    )
    for user_id, project_id in rows:
        found.setdefault(user_id, set()).add(project_id)
    return found


def archived_project_ids() -> QuerySet[Any]:
    return Project.objects.filter(is_archived=True).values("id")


def project_visible_to(user: User) -> QuerySet[Project]:
    """Projects the user belongs to (every project for `projects.view_any_project`),
    with `my_role` (None where not a member) and `members_count`: the user's personal
    project first, then oldest first."""
    projects = Project.objects.annotate(
        my_role=Subquery(
            Membership.objects.filter(project_id=OuterRef("pk"), user_id=user.pk).values("role")[:1]
        ),
        members_count=Subquery(
            Membership.objects.filter(project_id=OuterRef("pk"))
            .order_by()
            .values("project_id")
            .annotate(n=Count("id"))
            .values("n")[:1]
        ),
    ).order_by(Case(When(personal_owner_id=user.pk, then=0), default=1), "id")
    if can_see_every_project(user):
        return projects
    return projects.filter(pk__in=project_ids_of(user))


def role_in(user_id: int, project_id: int) -> str | None:
    """The user's role in the project, or None when not a member."""
    return (
        Membership.objects.filter(project_id=project_id, user_id=user_id)
        .values_list("role", flat=True)
        .first()
    )


def members_of(project_id: int) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(project_id=project_id)
        .select_related("user")
        .order_by("added_at", "id")
    )


def members_count(project_id: int) -> int:
    return Membership.objects.filter(project_id=project_id).count()


def writers_of(project_id: int) -> QuerySet[Membership]:
    return Membership.objects.filter(project_id=project_id, role__in=WRITE_ROLES)


def labels_of(project_id: int) -> QuerySet[Label]:
    return Label.objects.filter(project_id=project_id).order_by("name", "id")


def label_visible_to(user: User) -> QuerySet[Label]:
    labels = Label.objects.select_related("project").order_by("id")
    if can_see_every_project(user):
        return labels
    return labels.filter(project_id__in=project_ids_of(user))


def my_role(user_id: int) -> Subquery:
    """The user's role in the project of the row (`project_id`), as an annotation."""
    return Subquery(
        Membership.objects.filter(project_id=OuterRef("project_id"), user_id=user_id).values(
            "role"
        )[:1]
    )


def personal_project_of(user: User) -> Project | None:
    return Project.objects.filter(personal_owner_id=user.pk).first()


class Memberships:
    """Who belongs to which project, for the outbox's audience (activity.kinds)."""

    def project_ids(self, user: User) -> QuerySet[Any]:
        return project_ids_of(user)

    def project_ids_of_many(self, user_ids: Iterable[int]) -> dict[int, set[int]]:
        return project_ids_of_many(user_ids)
