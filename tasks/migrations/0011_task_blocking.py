"""`Task.blocking`: how many tasks each task blocks, counted from the relations."""

from django.db import migrations, models

COUNT = """
UPDATE tasks_task SET blocking = (
    SELECT count(*) FROM tasks_relation r WHERE r.task_id = tasks_task.id AND r.kind = 'blocks'
)
WHERE id IN (SELECT task_id FROM tasks_relation WHERE kind = 'blocks')
"""


class Migration(migrations.Migration):
    dependencies = [("tasks", "0010_lock_for_append")]

    operations = [
        migrations.AddField(
            model_name="task",
            name="blocking",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.RunSQL(COUNT, migrations.RunSQL.noop, elidable=False),
    ]
