"""Create the role groups and the "any scope" permissions they hold.

Content types for tasks.Task and files.File are created here if those models do not
exist yet; their own migrations declare the same permissions in Meta, which Django
then finds already present.
"""

from django.db import migrations

from accounts.roles import ANY_SCOPE_PERMISSIONS, ROLE_PERMISSIONS


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")

    by_codename = {}
    for app_label, model, codename, name in ANY_SCOPE_PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        by_codename[codename] = permission

    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        group.permissions.add(*(by_codename[codename] for codename in codenames))


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name__in=[str(role) for role in ROLE_PERMISSIONS]).delete()
    Permission.objects.filter(
        codename__in=[codename for _, _, codename, _ in ANY_SCOPE_PERMISSIONS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_sessions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [
        migrations.RunPython(create_roles, remove_roles),
        # cleanup_tokens deletes expired outstanding tokens in batches; SimpleJWT's
        # table has no index on expires_at, and a million rows must not be scanned.
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS token_blacklist_outstanding_expires_at "
            "ON token_blacklist_outstandingtoken (expires_at);",
            "DROP INDEX IF EXISTS token_blacklist_outstanding_expires_at;",
        ),
    ]
