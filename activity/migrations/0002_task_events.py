"""The task events of version 1 (tasks_taskevent) into the outbox, ids kept, so that
clients resume from the ids they hold. One INSERT ... SELECT; then, on PostgreSQL,
the id sequence continues after the last id copied."""

from django.db import migrations

COPY = """
INSERT INTO activity_event (
    id, type, subject_id, actor_id, data, changes,
    owner_id, assignee_id, previous_assignee_id, created_at
)
SELECT
    id, 'task.' || kind, task_id, actor_id, snapshot, changes,
    owner_id, assignee_id, previous_assignee_id, created_at
FROM tasks_taskevent
ORDER BY id
"""
RESTART_SEQUENCE = """
SELECT setval(
    pg_get_serial_sequence('activity_event', 'id'),
    COALESCE((SELECT MAX(id) FROM activity_event), 1),
    (SELECT MAX(id) FROM activity_event) IS NOT NULL
)
"""
COPY_BACK = """
INSERT INTO tasks_taskevent (
    id, kind, task_id, actor_id, snapshot, changes,
    owner_id, assignee_id, previous_assignee_id, created_at
)
SELECT
    id, SUBSTR(type, 6), subject_id, actor_id, data, changes,
    owner_id, assignee_id, previous_assignee_id, created_at
FROM activity_event
WHERE type LIKE 'task.%%'
ORDER BY id
"""


def copy_events(apps, schema_editor):
    schema_editor.execute(COPY)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESTART_SEQUENCE)


def copy_events_back(apps, schema_editor):
    schema_editor.execute(COPY_BACK)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESTART_SEQUENCE.replace("activity_event", "tasks_taskevent"))


class Migration(migrations.Migration):
    dependencies = [
        ("activity", "0001_initial"),
        ("tasks", "0002_due_date_desc_index"),
    ]

    operations = [
        migrations.RunPython(copy_events, copy_events_back, elidable=False),
    ]
