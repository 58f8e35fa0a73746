import unicodedata
from typing import Any
from urllib.parse import quote

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from files import selectors, services
from files.filters import FileFilter
from files.models import File
from files.permissions import FileAccess
from files.serializers import FileOutputSerializer, FileUploadInputSerializer
from taskmanager.exceptions import NotFoundError, ServiceUnavailableError
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle
from tasks.selectors import task_visible_to

DOWNLOAD_BLOCK_SIZE = 64 * 1024


@extend_schema(tags=["files"])
class FileViewSet(
    RateLimitHeadersMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = FileOutputSerializer
    permission_classes = [IsAuthenticated, FileAccess]
    throttle_classes = [ReadWriteThrottle]
    parser_classes = [MultiPartParser]
    filterset_class = FileFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[File]:
        return selectors.file_visible_to(self.request.user)

    @extend_schema(request={"multipart/form-data": FileUploadInputSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = FileUploadInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        task = None
        task_id = payload.validated_data.get("task")
        if task_id is not None:
            task = task_visible_to(request.user).filter(pk=task_id).first()
            if task is None:
                raise NotFoundError("No such task.")
        file = services.file_create(
            owner=request.user, upload=payload.validated_data["file"], task=task
        )
        body = FileOutputSerializer(file, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: File) -> None:
        services.file_delete(file=instance)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], filterset_class=None)
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        """The file's bytes, streamed, as an attachment."""
        file = self.get_object()
        try:
            handle = default_storage.open(file.storage_name, "rb")
        except Exception as exc:
            raise ServiceUnavailableError("The stored file cannot be read now.") from exc
        response = FileResponse(handle, content_type=file.content_type)
        response.block_size = DOWNLOAD_BLOCK_SIZE
        response["Content-Length"] = str(file.size)
        response["Content-Disposition"] = attachment_header(file.name)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


def attachment_header(name: str) -> str:
    """RFC 6266: an ASCII `filename` for old clients, `filename*` (RFC 5987) with the
    real name when it is not plain ASCII."""
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = "".join(
        "_" if char in '"\\' or not char.isprintable() else char for char in fallback
    )
    fallback = fallback.strip() or "download"
    if fallback == name:
        return f'attachment; filename="{fallback}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
