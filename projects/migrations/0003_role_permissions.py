"""Site roles and projects, as for tasks: managers see every project, admins also
change and delete any."""

from django.db import migrations

GRANTS = {
    "manager": ["view_any_project"],
    "admin": ["view_any_project", "change_any_project", "delete_any_project"],
}
NAMES = {
    "view_any_project": "Can view every project",
    "change_any_project": "Can change every project",
    "delete_any_project": "Can delete every project",
}


def _permission(apps, codename):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    content_type, _ = ContentType.objects.get_or_create(app_label="projects", model="project")
    # Created here if missing (post_migrate creates it after the migrations).
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=codename, defaults={"name": NAMES[codename]}
    )
    return permission


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(_permission(apps, c) for c in codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*(_permission(apps, c) for c in codenames))


class Migration(migrations.Migration):
    dependencies = [("projects", "0002_personal_projects"), ("accounts", "0003_roles")]

    operations = [migrations.RunPython(grant, revoke)]
