"""`tasks_lock_for_append(project, owner)` on PostgreSQL: a create's lock of its
project (by id, or the owner's personal project) and the project's greatest position,
in one round trip (tasks.services._lock_for_append). The position is read by a query
of its own inside the function, which, being VOLATILE, takes a new snapshot for each
query: the read sees every task committed by the lock's previous holder, which a
subquery of the locking statement (its snapshot taken before it waited) would not.
Other databases run the two statements from Python.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION tasks_lock_for_append(
    project bigint,
    owner bigint,
    OUT locked_id bigint,
    OUT locked_archived boolean,
    OUT locked_last text
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
    RETURN NEXT;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS tasks_lock_for_append(bigint, bigint)"


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0009_tasks_project_newest"),
        ("projects", "0003_role_permissions"),
    ]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
