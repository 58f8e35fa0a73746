from typing import Any

from django.urls import reverse
from rest_framework import serializers

from files.models import File
from taskmanager.serializers import StrictFieldsMixin


class FileUploadInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """One file, optionally attached to a task you can see."""

    file = serializers.FileField(allow_empty_file=False, use_url=False)
    task = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> Any:
        # A form may repeat a field; the parsed data would keep the last value only,
        # so a second file would be dropped (or another task picked) without a word.
        if hasattr(data, "getlist"):
            errors = {
                name: [f"Send one {name}, not {count}."]
                for name in ("file", "task")
                if (count := len(data.getlist(name))) > 1
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class FileOutputSerializer(serializers.ModelSerializer[File]):
    task = serializers.IntegerField(source="task_id", read_only=True, allow_null=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = File
        fields = [
            "id",
            "name",
            "size",
            "content_type",
            "sha256",
            "task",
            "created_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, file: File) -> str:
        path = reverse("v1:files:file-download", kwargs={"pk": file.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path
