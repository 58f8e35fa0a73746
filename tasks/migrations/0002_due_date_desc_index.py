"""An index for `?ordering=-due_date` on PostgreSQL: `due_date DESC NULLS LAST`.

Tasks without a due date come last both ways. Ascending, that is the `tasks_due_date`
btree's own order; descending, no scan of it gives NULLS LAST, and a manager's list of
every task was a sequential scan and a sort of the whole table. SQLite cannot declare
NULLS LAST in an index (and sorts the embedded default's small tables itself), so the
index is PostgreSQL's only, and not in the model's Meta. Built CONCURRENTLY: writes to
tasks go on while it builds.
"""

from django.db import migrations

INDEX = "tasks_due_date_desc"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
            "ON tasks_task (due_date DESC NULLS LAST)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tasks", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
