from django.urls import reverse
from rest_framework import serializers

from files.models import File
from taskmanager.serializers import StrictFieldsMixin


class FileUploadInputSerializer(StrictFieldsMixin, serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, use_url=False)
    task = serializers.IntegerField(min_value=1, required=False, allow_null=True)


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
