"""Give the admin role `manage_any_webhook` (global webhooks, every project's) and the
Django admin's permissions on webhooks and their deliveries, as notifications.0002 did
for the other models of version 2. The list is frozen, as a migration's data must be."""

from typing import Any

from django.db import migrations

ADMIN_PERMISSIONS = [
    ("webhooks", "webhook", ["view", "change", "delete"], ["manage_any_webhook"]),
    ("webhooks", "delivery", ["view"], []),
    ("webhooks", "workerheartbeat", ["view"], []),
]
NAMES = {"manage_any_webhook": "Can manage every webhook, and global ones"}


def _permissions(apps: Any) -> Any:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for app_label, model_name, actions, custom in ADMIN_PERMISSIONS:
        model = apps.get_model(app_label, model_name)
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model_name)
        codenames = {f"{action}_{model_name}": f"Can {action} {model._meta.verbose_name_raw}" for action in actions}
        codenames.update({codename: NAMES[codename] for codename in custom})
        for codename, name in codenames.items():
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )
            yield permission


def grant(apps: Any, schema_editor: Any) -> None:
    Group = apps.get_model("auth", "Group")
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*_permissions(apps))


def revoke(apps: Any, schema_editor: Any) -> None:
    Group = apps.get_model("auth", "Group")
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("notifications", "0002_admin_role_model_permissions"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
