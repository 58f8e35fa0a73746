"""Positions compare byte by byte on PostgreSQL too (COLLATE "C": a linguistic
collation would be slower and need not agree with SQLite's), and are unique within
a project. A migration of its own: PostgreSQL commits 0007's rows before the ALTER."""

from typing import Any

from django.db import migrations, models


def byte_order(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE tasks_task ALTER COLUMN position TYPE varchar(255) COLLATE "C"'
        )


def linguistic_order(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE tasks_task ALTER COLUMN position TYPE varchar(255) COLLATE "default"'
        )


class Migration(migrations.Migration):
    dependencies = [("tasks", "0007_task_positions")]

    operations = [
        migrations.RunPython(byte_order, linguistic_order),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.UniqueConstraint(
                fields=("project", "position"), name="tasks_project_position"
            ),
        ),
    ]
