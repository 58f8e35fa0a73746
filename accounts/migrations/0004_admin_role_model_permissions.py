"""Give the admin role what the Django admin needs to show and act on its models.

Operators with the admin role are staff, but the admin site shows a model only to
holders of its view/add/change/delete permissions. Those are created by
`post_migrate`, after the migrations, so they are created here if missing (with
Django's own names; `post_migrate` then finds them). The list is frozen here, as a
migration's data must be; later edits are made to the group in the admin.

Not granted: deleting users (they are deactivated, which keeps their tasks and
history) and editing groups (the role definitions stay with superusers).
"""

from django.db import migrations

ADMIN_MODEL_PERMISSIONS = [
    ("accounts", "user", ["view", "change"]),
    ("accounts", "usersession", ["view"]),
    ("auth", "group", ["view"]),
    ("tasks", "task", ["view", "add", "change", "delete"]),
    ("tasks", "taskevent", ["view"]),
    ("files", "file", ["view", "delete"]),
    ("token_blacklist", "outstandingtoken", ["view"]),
    ("token_blacklist", "blacklistedtoken", ["view"]),
]


def _permissions(apps):
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


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_roles"),
        ("tasks", "0001_initial"),
        ("files", "0001_initial"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
