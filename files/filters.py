import django_filters

from files.models import File
from taskmanager.filters import IdFilter


class FileFilter(django_filters.FilterSet):
    task = IdFilter(field_name="task_id")

    class Meta:
        model = File
        fields = ["task"]
