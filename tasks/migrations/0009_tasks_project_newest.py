"""A project's tasks newest first, ties by id: the order of every task list, so that
a member's first pages read each project's newest tasks straight from the index
(taskmanager.prepared.PreparedTopRows) instead of sorting each project's ties. It
replaces `tasks_project_created` (project, created_at DESC), whose queries it serves
too. On PostgreSQL built CONCURRENTLY, the old one dropped once the new one is ready:
writes to tasks go on meanwhile.
"""

from django.db import migrations, models

OLD = models.Index(fields=["project", "-created_at"], name="tasks_project_created")
NEW = models.Index(fields=["project", "-created_at", "-id"], name="tasks_project_newest")


def _replace(apps, schema_editor, old, new):
    task = apps.get_model("tasks", "Task")
    concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    schema_editor.add_index(task, new, **concurrently)
    schema_editor.remove_index(task, old, **concurrently)


def forwards(apps, schema_editor):
    _replace(apps, schema_editor, OLD, NEW)


def backwards(apps, schema_editor):
    _replace(apps, schema_editor, NEW, OLD)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tasks", "0008_task_position_unique"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="task", name=OLD.name),
                migrations.AddIndex(model_name="task", index=NEW),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
