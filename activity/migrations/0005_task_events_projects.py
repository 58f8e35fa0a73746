"""The events of existing tasks belong to the tasks' projects (tasks.0004), so that
their members read them; the users they name keep reading them too."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    Event = apps.get_model("activity", "Event")
    Task = apps.get_model("tasks", "Task")
    project = Task.objects.filter(pk=OuterRef("subject_id")).values("project_id")[:1]
    Event.objects.filter(type__startswith="task.").update(project_id=Subquery(project))


class Migration(migrations.Migration):
    dependencies = [("activity", "0004_event_projects"), ("tasks", "0004_task_project")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
