"""Every existing task gets a position: its project's tasks in creation order, evenly
spaced (the keys tasks.positions.spread makes, written out here so that the
migration stays as it is when that module changes)."""

from typing import Any

from django.db import migrations

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
WIDTH = 10
STEP = 36**4


def key(number: int) -> str:
    digits = []
    for _ in range(WIDTH):
        number, digit = divmod(number, 36)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def number_tasks(apps: Any, schema_editor: Any) -> None:
    Task = apps.get_model("tasks", "Task")
    project_ids = Task.objects.values_list("project_id", flat=True).distinct().order_by()
    for project_id in list(project_ids):
        tasks = list(
            Task.objects.filter(project_id=project_id).order_by("created_at", "id").only("id")
        )
        for index, task in enumerate(tasks, 1):
            task.position = key(index * STEP)
        Task.objects.bulk_update(tasks, ["position"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("tasks", "0006_collaboration")]

    operations = [migrations.RunPython(number_tasks, migrations.RunPython.noop)]
