"""What an upload must be: an allowed extension, and content that really is of that
type, told by its magic bytes (puremagic), never by the client's Content-Type."""

import codecs
import hashlib
import os
import unicodedata
import zipfile
from dataclasses import dataclass

import puremagic
from django.core.files.uploadedfile import UploadedFile

from taskmanager.exceptions import UnsupportedMediaTypeError

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Extension -> (the content type stored and served, extensions puremagic may report
# for such content). Text has no magic bytes: it must decode as UTF-8.
ALLOWED: dict[str, tuple[str, frozenset[str]]] = {
    "txt": ("text/plain", frozenset()),
    "pdf": ("application/pdf", frozenset({".pdf"})),
    "png": ("image/png", frozenset({".png"})),
    "jpg": ("image/jpeg", frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})),
    "jpeg": ("image/jpeg", frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})),
    "gif": ("image/gif", frozenset({".gif"})),
    # An OLE2 compound file; Word 97-2003 documents are one kind of them.
    "doc": ("application/msword", frozenset({".doc"})),
    # A zip; which zip is checked by its parts below.
    "docx": (DOCX, frozenset({".docx"})),
}
MAX_NAME_LENGTH = 255
# puremagic reads its signatures from the start (and, for a few, the end) of a file.
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Inspected:
    name: str
    content_type: str
    size: int
    sha256: str


def inspect(upload: UploadedFile) -> Inspected:
    """The upload's clean name, content type, size and digest; or 415 when its
    extension is not allowed or its content is not what the extension says."""
    name = clean_name(upload.name or "")
    extension = os.path.splitext(name)[1].lower().removeprefix(".")
    if extension not in ALLOWED:
        allowed = ", ".join(sorted(ALLOWED))
        raise UnsupportedMediaTypeError(f"Allowed file types: {allowed}.")
    content_type, signatures = ALLOWED[extension]
    size, sha256 = _digest(upload, text=extension == "txt")
    if signatures:
        _check_signature(upload, extension, signatures)
    if extension == "docx":
        _check_docx(upload)
    return Inspected(name, content_type, size, sha256)


def clean_name(raw: str) -> str:
    """The last path part, in NFC, without control or format characters, trimmed, at
    most 255 characters with the extension kept."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in {"Cc", "Cf"})
    name = name.strip().lstrip(".") or "file"
    if len(name) > MAX_NAME_LENGTH:
        stem, extension = os.path.splitext(name)
        name = stem[: MAX_NAME_LENGTH - len(extension)] + extension
    return name


def _digest(upload: UploadedFile, *, text: bool) -> tuple[int, str]:
    sha256 = hashlib.sha256()
    size = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    upload.seek(0)
    for chunk in upload.chunks():
        sha256.update(chunk)
        size += len(chunk)
        if text:
            _check_text(decoder, chunk)
    if text:
        _check_text(decoder, b"", final=True)
    return size, sha256.hexdigest()


def _check_text(decoder: codecs.IncrementalDecoder, chunk: bytes, final: bool = False) -> None:
    try:
        decoded = decoder.decode(chunk, final=final)
    except UnicodeDecodeError:
        raise UnsupportedMediaTypeError("A .txt file must be UTF-8 text.") from None
    if "\x00" in decoded:
        raise UnsupportedMediaTypeError("A .txt file must be text, without NUL bytes.")


def _check_signature(upload: UploadedFile, extension: str, signatures: frozenset[str]) -> None:
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    try:
        found = {match.extension.lower() for match in puremagic.magic_string(head)}
    except Exception:  # PureError when nothing matches; any failure on odd bytes alike
        found = set()
    if not found & signatures:
        raise UnsupportedMediaTypeError(f"The content is not a .{extension} file.")


def _check_docx(upload: UploadedFile) -> None:
    """A .docx is a zip holding a Word document part; any other zip is refused.
    Only the zip's directory is read, so a zip bomb is never inflated."""
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as archive:
            parts = set(archive.namelist())
    except Exception:  # BadZipFile, and odd bytes' NotImplementedError, UnicodeDecodeError...
        parts = set()
    if not {"[Content_Types].xml", "word/document.xml"} <= parts:
        raise UnsupportedMediaTypeError("The content is not a .docx file.")
