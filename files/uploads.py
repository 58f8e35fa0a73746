from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from taskmanager.exceptions import PayloadTooLargeError

# Room for the multipart framing and the other form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


class SizeLimitUploadHandler(FileUploadHandler):
    """Refuses an upload over UPLOAD_MAX_BYTES as it streams in.

    A declared Content-Length already over the limit is refused before any of the
    body is read; otherwise each file's bytes are counted chunk by chunk and the
    upload stops at the first chunk past the limit (the next handlers, which keep
    the data in memory or a temporary file, never see more, and their partial file
    is closed and removed).
    """

    # Django passes the boundary as bytes; the stub says str.
    def handle_raw_input(  # type: ignore[override]
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: bytes,
        encoding: str | None = None,
    ) -> None:
        if content_length > settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD:
            raise PayloadTooLargeError(_too_large())

    too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.UPLOAD_MAX_BYTES:
            # StopUpload lets Django close (and so delete) the partial temporary
            # files of the handlers after this one; the error comes once it has.
            # The rest of the body, read and dropped, is within the framing room
            # the Content-Length check allows.
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def upload_complete(self) -> None:
        if self.too_large:
            raise PayloadTooLargeError(_too_large())


def _too_large() -> str:
    return f"Files are at most {settings.UPLOAD_MAX_BYTES} bytes."
