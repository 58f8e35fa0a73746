import django_filters

from files.models import File


class FileFilter(django_filters.FilterSet):
    task = django_filters.NumberFilter(field_name="task_id")

    class Meta:
        model = File
        fields = ["task"]
