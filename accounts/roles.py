"""Roles are Django groups holding Django permissions; this is their starting set.

The data migration creates the groups from this table once; after that they are
edited in the admin. Code checks permissions (`user.has_perm`), never role names.
"""

from django.db import models


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


# (app_label, model, codename, name) of the custom "any scope" permissions.
ANY_SCOPE_PERMISSIONS = [
    ("tasks", "task", "view_any_task", "Can view every task"),
    ("tasks", "task", "change_any_task", "Can change every task"),
    ("tasks", "task", "delete_any_task", "Can delete every task"),
    ("files", "file", "view_any_file", "Can view every file"),
    ("files", "file", "delete_any_file", "Can delete every file"),
    ("accounts", "user", "manage_users", "Can list users and change their role and status"),
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.MEMBER: [],
    Role.MANAGER: ["view_any_task", "change_any_task"],
    Role.ADMIN: [codename for _, _, codename, _ in ANY_SCOPE_PERMISSIONS],
}

# Highest first: a user in several role groups has the highest of them.
ROLE_PRECEDENCE = [Role.ADMIN, Role.MANAGER, Role.MEMBER]
