from files.models import File
from taskmanager.filters import IdFilter, LeanFilterSet


class FileFilter(LeanFilterSet):
    task = IdFilter(field_name="task_id")

    class Meta:
        model = File
        fields = ["task"]
