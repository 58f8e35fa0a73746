"""The admin role reads the outbox in the Django admin, as it read the task events
(accounts.0004_admin_role_model_permissions granted `tasks.view_taskevent`)."""

from django.db import migrations


def _view_event(apps):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    content_type, _ = ContentType.objects.get_or_create(app_label="activity", model="event")
    # Created here if missing (post_migrate creates it after the migrations), with
    # Django's own name, which post_migrate then finds.
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="view_event", defaults={"name": "Can view event"}
    )
    return permission


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(_view_event(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.remove(_view_event(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("activity", "0002_task_events"),
        ("accounts", "0004_admin_role_model_permissions"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
