"""factory_boy factories; users are created through the same service as the API."""

from typing import Any

import factory
from django.test import TestCase
from factory.django import DjangoModelFactory

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_register, user_set_role

# Every factory user logs in with this; it passes Django's password validators.
PASSWORD = "Wind-Copper-Lantern-42"


class UserFactory(DjangoModelFactory):
    """A registered user ("member" unless `role=` is given), password `PASSWORD`.

    `UserFactory(role=Role.MANAGER)` goes through `user_set_role`;
    `UserFactory(superuser=True)` also sets `is_superuser`.
    """

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = PASSWORD

    class Meta:
        model = User
        skip_postgeneration_save = True

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        return user_register(
            username=kwargs["username"], email=kwargs["email"], password=kwargs["password"]
        )

    @factory.post_generation
    def role(user: User, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create and extracted and extracted != Role.MEMBER:
            # As if committed: the service's after-commit cache update replaces the
            # "unsettled" entry it wrote (accounts.auth_cache), as in production.
            with TestCase.captureOnCommitCallbacks(execute=True):
                user_set_role(user=user, role=extracted)

    @factory.post_generation
    def superuser(user: User, create: bool, extracted: bool | None, **kwargs: Any) -> None:
        if create and extracted:
            User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
            user.refresh_from_db()


class TaskFactory(DjangoModelFactory):
    """A task created through `task_create`; `owner=` is the acting user (a new member
    unless given), every other keyword goes to the service as is.

    Without `project=`: the owner's personal project, or, for a task assigned to
    someone else, the owner's project "Shared by <owner>" with the assignee as a
    member (as the version-2 migration arranged version 1's assignments).
    """

    title = factory.Sequence(lambda n: f"Task {n}")
    owner = factory.SubFactory(UserFactory)

    class Meta:
        model = "tasks.Task"
        skip_postgeneration_save = True

    @classmethod
    def _create(cls, model_class: type[Any], *args: Any, **kwargs: Any) -> Any:
        # Imported here so the accounts tests still import this module on their own.
        from tasks.services import task_create

        owner = kwargs.pop("owner")
        assignee = kwargs.get("assignee")
        if kwargs.get("project") is None and assignee is not None and assignee.pk != owner.pk:
            kwargs["project"] = shared_project(owner, assignee)
        return task_create(actor=owner, **kwargs)


def shared_project(owner: User, *members: User, role: str = "member") -> Any:
    """The owner's project "Shared by <owner>" (created once, the owner its admin),
    with these users as members of `role` (added if missing)."""
    from projects.models import Membership, Project
    from projects.services import member_add, project_create

    name = f"Shared by {owner.username}"[:100]
    project = Project.objects.filter(
        name=name, memberships__user=owner, memberships__role="admin"
    ).first() or project_create(actor=owner, name=name)
    for user in members:
        if not Membership.objects.filter(project=project, user=user).exists():
            with TestCase.captureOnCommitCallbacks(execute=True):
                member_add(actor=owner, project_id=project.pk, identifier=user.username, role=role)
    return project
