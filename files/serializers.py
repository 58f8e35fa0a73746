from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from files.models import File
from taskmanager.filters import MAX_ID
from taskmanager.serializers import StrictFieldsMixin


class UploadField(serializers.FileField):
    """The uploaded file: at least one byte, at most UPLOAD_MAX_BYTES."""


class UploadFieldSchema(OpenApiSerializerFieldExtension):
    """The sizes an upload is refused past (400 empty, 413 too large), in the schema;
    the setting is read when the schema is generated. The largest size is said in
    words: as `maxLength`, schemathesis sends a small file it labels too large."""

    target_class = UploadField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return {
            "type": "string",
            "format": "binary",
            "minLength": 1,
            "description": f"At most {settings.UPLOAD_MAX_BYTES} bytes (413 past it).",
        }


class FileUploadInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """One file, optionally attached to a task you can see."""

    file = UploadField(allow_empty_file=False, use_url=False)
    # Not nullable: a form has no null ("null" is text), an empty value is no task.
    task = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)

    def to_internal_value(self, data: Any) -> Any:
        # A form may repeat a field; the parsed data would keep the last value only,
        # so a second file would be dropped (or another task picked) without a word.
        repeated = {}
        if hasattr(data, "getlist"):
            repeated = {
                name: [f"Send one {name}, not {count}."]
                for name in ("file", "task")
                if (count := len(data.getlist(name))) > 1
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not repeated or not isinstance(exc.detail, dict):
                raise
            # Every field's error in one answer; a repeated field's count says more.
            raise serializers.ValidationError({**exc.detail, **repeated}) from exc
        if repeated:
            raise serializers.ValidationError(repeated)
        return value


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
