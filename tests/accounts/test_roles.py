"""Roles are groups from the data migration; permissions go through `has_perm`."""

import pytest
from django.contrib.auth.models import Group

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_set_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ALL_PERMS = {
    "tasks.view_any_task",
    "tasks.change_any_task",
    "tasks.delete_any_task",
    "files.view_any_file",
    "files.delete_any_file",
    "accounts.manage_users",
}
ROLE_PERMS = {
    "member": set(),
    "manager": {"tasks.view_any_task", "tasks.change_any_task"},
    "admin": ALL_PERMS,
}


def fresh(user: User) -> User:
    # `has_perm` caches permissions on the instance; read the user again.
    return User.objects.get(pk=user.pk)


def group_perms(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{perm.content_type.app_label}.{perm.codename}"
        for perm in group.permissions.select_related("content_type")
    }


def test_role_choices_are_member_manager_and_admin():
    assert {choice.value for choice in Role} == {"member", "manager", "admin"}
    assert Role.MEMBER == "member"
    assert Role.MANAGER == "manager"
    assert Role.ADMIN == "admin"


def test_the_role_groups_exist_after_migrations():
    assert set(Group.objects.filter(name__in=list(Role)).values_list("name", flat=True)) == {
        "member",
        "manager",
        "admin",
    }


@pytest.mark.parametrize("role", ["member", "manager", "admin"])
def test_each_role_group_holds_exactly_its_permissions_of_the_six(role):
    assert group_perms(role) & ALL_PERMS == ROLE_PERMS[role]


@pytest.mark.parametrize("role", ["member", "manager", "admin"])
@pytest.mark.parametrize("perm", sorted(ALL_PERMS))
def test_has_perm_follows_the_role(role, perm):
    user = fresh(UserFactory(role=role))

    assert user.role == role
    assert user.has_perm(perm) is (perm in ROLE_PERMS[role])


def test_a_registered_user_is_a_member_in_the_member_group(member):
    assert member.role == "member"
    assert list(member.groups.values_list("name", flat=True)) == ["member"]


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_a_role_user_has_a_single_role_group(role):
    user = UserFactory(role=role)

    role_groups = set(fresh(user).groups.filter(name__in=list(Role)).values_list("name", flat=True))
    assert role_groups == {role}


def test_demoting_a_manager_to_member_takes_the_manager_permissions_away(manager):
    assert fresh(manager).has_perm("tasks.view_any_task")

    user_set_role(user=manager, role=Role.MEMBER)

    demoted = fresh(manager)
    assert demoted.role == "member"
    assert not demoted.has_perm("tasks.view_any_task")
    assert not demoted.has_perm("tasks.change_any_task")


def test_promoting_to_admin_then_manager_leaves_only_manager_permissions(member):
    user_set_role(user=member, role=Role.ADMIN)
    assert fresh(member).has_perm("accounts.manage_users")

    user_set_role(user=member, role=Role.MANAGER)

    user = fresh(member)
    assert user.role == "manager"
    assert not user.has_perm("accounts.manage_users")
    assert user.has_perm("tasks.change_any_task")


def test_user_set_role_returns_the_user(member):
    result = user_set_role(user=member, role=Role.MANAGER)

    assert result.pk == member.pk
    assert fresh(member).role == "manager"


def test_a_superuser_is_always_an_admin_with_every_permission():
    root = fresh(UserFactory(username="root", email="root@example.com", superuser=True))

    # Registered, hence in the "member" group; being a superuser outranks it.
    assert list(root.groups.values_list("name", flat=True)) == ["member"]
    assert root.role == "admin"
    assert all(root.has_perm(perm) for perm in ALL_PERMS)


def test_an_inactive_admin_has_no_permissions(admin):
    User.objects.filter(pk=admin.pk).update(is_active=False)

    assert not fresh(admin).has_perm("accounts.manage_users")
