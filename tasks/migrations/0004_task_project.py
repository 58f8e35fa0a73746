"""Tasks belong to projects: each existing task moves into its owner's personal
project, or, when assigned to someone else, into the owner's project "Shared by
<owner>" (owner admin, those assignees members), so that nobody loses sight of a
task they could see (owner and assignee)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F, OuterRef, Q, Subquery


SHARED_PREFIX = "Shared by "


def into_projects(apps, schema_editor):
    Task = apps.get_model("tasks", "Task")
    Project = apps.get_model("projects", "Project")
    Membership = apps.get_model("projects", "Membership")
    User = apps.get_model("accounts", "User")
    personal = Project.objects.filter(personal_owner_id=OuterRef("owner_id")).values("pk")[:1]
    own = Q(assignee__isnull=True) | Q(assignee_id=F("owner_id"))
    Task.objects.filter(own).update(project_id=Subquery(personal))
    shared = Task.objects.exclude(own)
    owners = sorted(set(shared.values_list("owner_id", flat=True)))
    names = dict(User.objects.filter(pk__in=owners).values_list("pk", "username"))
    for owner_id in owners:
        project = Project.objects.create(name=(SHARED_PREFIX + names[owner_id])[:100])
        assignees = set(shared.filter(owner_id=owner_id).values_list("assignee_id", flat=True))
        Membership.objects.bulk_create(
            [Membership(project=project, user_id=owner_id, role="admin")]
            + [Membership(project=project, user_id=uid, role="member") for uid in sorted(assignees)]
        )
        shared.filter(owner_id=owner_id).update(project=project)


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0002_personal_projects'),
        ('tasks', '0003_delete_taskevent'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='task',
            name='tasks_owner_status',
        ),
        migrations.RemoveIndex(
            model_name='task',
            name='tasks_assignee_status',
        ),
        migrations.AddField(
            model_name='task',
            name='project',
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='projects.project'),
        ),
        migrations.RunPython(into_projects, migrations.RunPython.noop),
    ]
