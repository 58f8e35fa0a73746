import logging
import os
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from django.core.files import File as StoredFile
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAcceptable, PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.permissions import request_user
from files import selectors, services
from files.filters import FileFilter
from files.models import File
from files.permissions import FileAccess
from files.serializers import FileOutputSerializer, FileUploadInputSerializer
from files.validation import ALLOWED
from taskmanager.exceptions import GoneError, NotFoundError, ServiceUnavailableError
from taskmanager.filters import FiltersOnListsOnly
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    CONDITIONAL_GET,
    NOT_MODIFIED,
    WITH_BODY,
    ErrorSerializer,
    errors,
)
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle
from tasks.permissions import may_change
from tasks.selectors import task_writable_view_of
from tasks.services import task_check_writable

DOWNLOAD_BLOCK_SIZE = 64 * 1024
DOWNLOAD_MEDIA_TYPES = sorted({content_type for content_type, _ in ALLOWED.values()})
DOWNLOAD = OpenApiResponse(OpenApiTypes.BINARY, description="The file's bytes, as an attachment.")
GONE = OpenApiResponse(
    ErrorSerializer,
    description="The file's stored bytes are missing or are not the ones uploaded.",
)

logger = logging.getLogger(__name__)


class DownloadNegotiation(DefaultContentNegotiation):
    """A download answers with the file's own type whatever the client accepts; the
    renderers only write error bodies. DRF's negotiation knows just the JSON and HTML
    renderers and would refuse `Accept: application/pdf` or `application/octet-stream`
    with a 406: such a request gets the bytes, or an error in JSON."""

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        try:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            renderer = renderers[0]
            media_type = renderer.media_type
        return renderer, media_type


@extend_schema_view(
    list=extend_schema(
        summary="List your files and those attached to the tasks you see",
        parameters=CONDITIONAL_GET,
        responses={
            200: FileOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 429),
        },
    ),
    retrieve=extend_schema(
        summary="Get a file's metadata",
        parameters=CONDITIONAL_GET,
        responses={
            200: FileOutputSerializer,
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 404, 429),
        },
    ),
    destroy=extend_schema(
        summary="Delete a file", responses={204: None, **errors(AUTHENTICATED_WRITE, 404, 429)}
    ),
)
@extend_schema(tags=["files"])
class FileViewSet(
    StrictQueryParametersMixin,
    FiltersOnListsOnly,
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
    # ASCII digits only: \d matches every script's digits, which int() reads, so the
    # ARABIC-INDIC DIGIT ONE (U+0661) answered file 1 at a second URL.
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[File]:
        return selectors.file_visible_to(request_user(self.request))

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        # OPTIONS and the browsable API build the upload form from this, asking with
        # the form's method; the output's fields are all read-only (no file input).
        if self.request is not None and self.request.method == "POST":
            return FileUploadInputSerializer
        return FileOutputSerializer

    @extend_schema(
        summary="Upload a file",
        description="Multipart, optionally attached to a `task` you may change (a viewer "
        "of its project gets 403, an archived project 409). The size, the extension and "
        "the file's first bytes must agree with an accepted type.",
        request={"multipart/form-data": FileUploadInputSerializer},
        # 404: the task named is not one you can see; 415: the file's type is not allowed.
        responses={
            201: FileOutputSerializer,
            **errors(AUTHENTICATED_WRITE, WITH_BODY, 404, 409, 429, 503),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = FileUploadInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        task = None
        task_id = payload.validated_data.get("task")
        if task_id is not None:
            user = request_user(request)
            task = task_writable_view_of(user).filter(pk=task_id).first()
            if task is None:
                raise NotFoundError("No such task.")
            # Attaching changes the task: its project's viewers may not.
            if not may_change(user, task):
                raise PermissionDenied("Viewers of a project only read its tasks' files.")
            task_check_writable(task)
        file = services.file_create(
            owner=request_user(request), upload=payload.validated_data["file"], task=task
        )
        body = FileOutputSerializer(file, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: File) -> None:
        services.file_delete(file=instance)

    @extend_schema(
        summary="Download a file",
        # The file's own type, one of the types uploads are accepted in.
        responses={
            **{(200, media_type): DOWNLOAD for media_type in DOWNLOAD_MEDIA_TYPES},
            **errors(AUTHENTICATED, 404, 429, 503),
            410: GONE,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        filterset_class=None,
        content_negotiation_class=DownloadNegotiation,
    )
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        """The file's bytes, streamed, as an attachment."""
        file = self.get_object()
        handle = open_stored(file)
        response = FileResponse(handle, content_type=file.content_type)
        response.block_size = DOWNLOAD_BLOCK_SIZE
        response["Content-Length"] = str(file.size)
        response["Content-Disposition"] = attachment_header(file.name)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


def open_stored(file: File) -> StoredFile:
    """The file's stored bytes, opened; 410 when they are missing or their size is not
    the one recorded (the Content-Length sent would not match what follows), 503 when
    the storage fails."""
    try:
        handle = default_storage.open(file.storage_name, "rb")
    except FileNotFoundError as exc:
        # Both storages say so: FileSystemStorage, and S3Storage for a 404 from S3.
        logger.error("stored bytes of file %s are missing (%s)", file.pk, file.storage_name)
        raise GoneError("The file's content is no longer available.") from exc
    except Exception as exc:
        raise ServiceUnavailableError("The stored file cannot be read now.") from exc
    try:
        # A stat of the open file on disk; S3 answered it with the object's metadata.
        size = handle.size
    except Exception as exc:
        handle.close()
        raise ServiceUnavailableError("The stored file cannot be read now.") from exc
    if size != file.size:
        handle.close()
        logger.error(
            "stored bytes of file %s are %s bytes, %s recorded (%s)",
            file.pk,
            size,
            file.size,
            file.storage_name,
        )
        raise GoneError("The file's content is no longer available.")
    return handle


def attachment_header(name: str) -> str:
    """RFC 6266: an ASCII `filename` for old clients, `filename*` (RFC 5987) with the
    real name when it is not plain ASCII."""
    stem, extension = os.path.splitext(name)
    # NFKD makes a fullwidth solidus or full stop a "/" or a ".": the stored name has
    # no path and no leading dot, so neither may the name an old client saves under.
    fallback_stem = _ascii_fallback(stem).lstrip(". ")
    if not fallback_stem.strip():
        fallback_stem = "download"
    fallback = fallback_stem + _ascii_fallback(extension)
    if fallback == name:
        return f'attachment; filename="{fallback}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _ascii_fallback(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join("_" if char in '"\\/' or not char.isprintable() else char for char in ascii_text)
