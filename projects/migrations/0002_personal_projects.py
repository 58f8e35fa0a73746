"""Every existing account gets its personal project (new ones get it when created:
projects.services.personal_project_create), its user as admin."""

from django.db import migrations

PERSONAL_NAME = "Personal"


def create(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Project = apps.get_model("projects", "Project")
    Membership = apps.get_model("projects", "Membership")
    have = Project.objects.filter(personal_owner__isnull=False).values("personal_owner_id")
    missing = list(User.objects.exclude(pk__in=have).values_list("pk", flat=True))
    for start in range(0, len(missing), 1000):
        chunk = missing[start : start + 1000]
        Project.objects.bulk_create(
            [Project(name=PERSONAL_NAME, personal_owner_id=uid) for uid in chunk]
        )
        created = Project.objects.filter(personal_owner_id__in=chunk).values_list(
            "pk", "personal_owner_id"
        )
        Membership.objects.bulk_create(
            [Membership(project_id=pid, user_id=uid, role="admin") for pid, uid in created]
        )


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial"), ("accounts", "0006_compute_name_skeletons")]

    # Backwards: the tables go with 0001.
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
