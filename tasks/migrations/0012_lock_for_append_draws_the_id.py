"""`tasks_lock_for_append` also draws the new task's id (`next_id`), so that a create
can write the task and its event, which names it, in one statement
(tasks.services.task_create). Otherwise as migration 0010 made it."""

from importlib import import_module

from django.db import migrations

# The function as it was, for the way back.
BEFORE = import_module("tasks.migrations.0010_lock_for_append").CREATE

CREATE = """
CREATE FUNCTION tasks_lock_for_append(
    project bigint,
    owner bigint,
    OUT locked_id bigint,
    OUT locked_archived boolean,
    OUT locked_last text,
    OUT next_id bigint
) RETURNS SETOF record
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF project IS NOT NULL THEN
        SELECT p.id, p.is_archived INTO locked_id, locked_archived
        FROM projects_project p WHERE p.id = project FOR UPDATE;
    ELSE
        SELECT p.id, p.is_archived INTO locked_id, locked_archived
        FROM projects_project p WHERE p.personal_owner_id = owner FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT t.position INTO locked_last
    FROM tasks_task t WHERE t.project_id = locked_id ORDER BY t.position DESC LIMIT 1;
    next_id := nextval(pg_get_serial_sequence('tasks_task', 'id'));
    RETURN NEXT;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS tasks_lock_for_append(bigint, bigint)"


def _run(*statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("tasks", "0011_task_blocking")]

    # Its result's columns change: dropped and made again.
    operations = [migrations.RunPython(_run(DROP, CREATE), _run(DROP, BEFORE), elidable=False)]
