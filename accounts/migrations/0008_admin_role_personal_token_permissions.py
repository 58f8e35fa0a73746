"""Give the admin role the Django admin's permissions on personal API tokens: to list
them and to delete (revoke) one, as accounts.0004 did for sessions. Created here if
missing (`post_migrate` creates permissions after the migrations); the list is
frozen, as a migration's data must be."""

from typing import Any

from django.db import migrations

ADMIN_MODEL_PERMISSIONS = [("accounts", "personaltoken", ["view", "delete"])]


def _permissions(apps: Any) -> Any:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for app_label, model_name, actions in ADMIN_MODEL_PERMISSIONS:
        model = apps.get_model(app_label, model_name)
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model_name)
        for action in actions:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=f"{action}_{model_name}",
                defaults={"name": f"Can {action} {model._meta.verbose_name_raw}"},
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
    dependencies = [("accounts", "0007_personal_tokens")]

    operations = [migrations.RunPython(grant, revoke)]
