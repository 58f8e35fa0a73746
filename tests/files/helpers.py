"""Helpers only the files tests use; the shared ones (uploads, file URLs) are in
tests/helpers.py."""

import posixpath
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

UPLOADS_PREFIX = "uploads/"


def stored_names(storage: Any = None, prefix: str = UPLOADS_PREFIX) -> set[str]:
    """Every name under `prefix` in `storage` (the default storage unless given),
    walking folders; works for the file system and S3."""
    storage = storage or default_storage
    names: set[str] = set()
    pending = [prefix.rstrip("/")]
    while pending:
        folder = pending.pop()
        try:
            directories, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        names.update(posixpath.join(folder, name) for name in files)
        pending.extend(posixpath.join(folder, name) for name in directories)
    return names


def media_files(media_root: Path) -> set[Path]:
    """Every file under `media_root` (anywhere, not only uploads/)."""
    return {path for path in media_root.rglob("*") if path.is_file()}


def file_row(file_id: int) -> Any:
    from files.models import File

    return File.objects.get(pk=file_id)
