from projects.models import WRITE_ROLES, ProjectRole


def may_administer(user_has_perm: bool, role: str | None) -> bool:
    """Rename, archive, delete, manage members: the project's admins, and holders of
    the site-wide permission given."""
    return user_has_perm or role == ProjectRole.ADMIN


def may_write(role: str | None) -> bool:
    """Create and change tasks, manage labels: admins and members."""
    return role in WRITE_ROLES
