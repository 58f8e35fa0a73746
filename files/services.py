"""Every write of a file. Storage and database are kept in step: an upload that
fails at any step leaves neither a row nor stored bytes, and a deleted row never
points at bytes that are gone (bytes left without a row are for cleanup_files)."""

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from files import validation
from files.models import File
from taskmanager.exceptions import NotFoundError, ServiceUnavailableError
from taskmanager.transactions import after_commit
from tasks.models import Task

logger = logging.getLogger(__name__)

STORAGE_PREFIX = "uploads"


def file_create(*, owner: User, upload: UploadedFile, task: Task | None = None) -> File:
    """Check the upload (415 when it is not what its extension says), store it under
    a random name and record it."""
    inspected = validation.inspect(upload)
    key = uuid.uuid4().hex
    wanted_name = f"{STORAGE_PREFIX}/{key[:2]}/{key}"
    upload.seek(0)
    try:
        storage_name = default_storage.save(wanted_name, upload)
    except Exception as exc:
        logger.warning("file storage refused an upload: %s: %s", type(exc).__name__, exc)
        # A write that failed half way (a full disk) may have left part of the bytes;
        # the name is a fresh random one, so whatever is there is this upload's.
        _remove_stored(wanted_name)
        raise ServiceUnavailableError("The file could not be stored; try again.") from exc
    try:
        with transaction.atomic():
            return File.objects.create(
                owner_id=owner.pk,
                task_id=task.pk if task else None,
                name=inspected.name,
                storage_name=storage_name,
                size=inspected.size,
                content_type=inspected.content_type,
                sha256=inspected.sha256,
            )
    except Exception as exc:
        _remove_stored(storage_name)
        if task is not None and not Task.objects.filter(pk=task.pk).exists():
            # The task was deleted while its attachment was on the way (the row's foreign
            # key refused it): what the client asked for is gone, retrying cannot help.
            raise NotFoundError("No such task.") from exc
        logger.warning("file row not written, stored bytes removed: %s", type(exc).__name__)
        raise ServiceUnavailableError("The file could not be recorded; try again.") from exc


def file_delete(*, file: File) -> None:
    """Delete the row now and the stored bytes once that commits."""
    with transaction.atomic():
        File.objects.filter(pk=file.pk).delete()
        after_commit(lambda: _remove_stored(file.storage_name))


def files_delete_for_tasks(*, task_id: int | None = None, project_id: int | None = None) -> None:
    """Inside the transaction deleting the task `task_id`, or every task of the project
    `project_id`: the rows of their attachments go with the tasks (CASCADE), their
    stored bytes once that commits. One query either way."""
    if task_id is not None:
        attached = File.objects.filter(task_id=task_id)
    elif project_id is not None:
        attached = File.objects.filter(task__project_id=project_id)
    else:
        return
    names = list(attached.values_list("storage_name", flat=True))
    if not names:
        return

    def remove() -> None:
        for name in names:
            _remove_stored(name)

    after_commit(remove)


def _remove_stored(storage_name: str) -> None:
    try:
        default_storage.delete(storage_name)
    except Exception as exc:
        # The row is gone; the bytes stay as an orphan that cleanup_files removes.
        logger.warning(
            "stored file %s not removed (%s: %s); cleanup_files will find it",
            storage_name,
            type(exc).__name__,
            exc,
        )


@dataclass
class CleanupReport:
    orphans: list[tuple[str, int]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    @property
    def orphan_bytes(self) -> int:
        return sum(size for _, size in self.orphans)


def files_cleanup(
    *, dry_run: bool = False, older_than: timedelta = timedelta(hours=1)
) -> CleanupReport:
    """Stored bytes under `uploads/` without a row, older than `older_than` (an upload
    in progress stores its bytes just before its row), removed unless `dry_run`; and
    rows whose bytes are gone, reported only (they need an operator's look)."""
    report = CleanupReport()
    # Rows first: bytes stored after this read are younger than the cutoff.
    rows = dict(File.objects.values_list("storage_name", "pk"))
    stored = set(_stored_names(STORAGE_PREFIX))
    try:
        cutoff = timezone.now() - older_than
    except OverflowError:
        # Before year 1: no orphan is that old, and rows are still checked.
        cutoff = datetime.min.replace(tzinfo=UTC)
    for name in sorted(stored - rows.keys()):
        stat = _stat(name)
        if stat is None or stat[0] > cutoff:
            continue
        report.orphans.append((name, stat[1]))
        if not dry_run:
            default_storage.delete(name)
    report.missing = sorted(pk for name, pk in rows.items() if name not in stored)
    return report


def _stat(name: str) -> tuple[datetime, int] | None:
    """When `name` was stored and its size; None when it is gone since it was listed
    (a failed upload removing its own bytes, another cleanup run)."""
    try:
        return default_storage.get_modified_time(name), default_storage.size(name)
    except Exception:
        # S3 tells a missing object by a ClientError, the disk by FileNotFoundError.
        if default_storage.exists(name):
            raise
        return None


def _stored_names(directory: str) -> Iterator[str]:
    try:
        directories, files = default_storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{directory}/{name}"
    for sub in directories:
        yield from _stored_names(f"{directory}/{sub}")
