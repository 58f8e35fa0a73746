"""Storage and database in step: uploads and deletes under injected failures, the
cleanup_files command, the S3 backend against moto's server, and the settings switch
to S3.

Who is who: member ("mia") uploads; `task` is hers.
"""

import errno
import hashlib
import io
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import puremagic
import pytest
from botocore.exceptions import ClientError
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.core.management import call_command
from django.db import OperationalError, connection, transaction
from moto.server import ThreadedMotoServer

from files import services, validation
from files.models import File
from tasks.models import Task
from tests.files.helpers import media_files, stored_names
from tests.files.samples import png_bytes, sample, text_bytes, text_of_size
from tests.helpers import FILES_URL, assert_error, download_url, file_url, post_file, upload
from tests.taskmanager import test_settings

HOUR = 3600
S3_BACKEND = "storages.backends.s3.S3Storage"
REGION = "us-east-1"
DUMMY_KEY_ID = "testing-key-id"
DUMMY_SECRET = "testing-secret-key"


# --- helpers -------------------------------------------------------------------------


def cleanup(*args: str) -> list[str]:
    """Run `cleanup_files` with `args`; the lines it printed."""
    out = io.StringIO()
    call_command("cleanup_files", *args, stdout=out)
    return out.getvalue().splitlines()


def put_on_disk(media_root: Path, name: str, content: bytes, age: float = 2 * HOUR) -> Path:
    """A file `name` in the storage folder, last modified `age` seconds ago."""
    path = media_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def record(owner: Any, storage_name: str, content: bytes) -> File:
    """A row for bytes stored under `storage_name` (whether they exist or not)."""
    return File.objects.create(
        owner=owner,
        name="notes.txt",
        storage_name=storage_name,
        size=len(content),
        content_type="text/plain",
        sha256=hashlib.sha256(content).hexdigest(),
    )


def fail_file_inserts(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
    """A `connection.execute_wrapper`: the INSERT of a files row fails as if the
    database went away; every other statement runs."""
    if sql.lstrip().upper().startswith("INSERT") and '"files_file"' in sql:
        raise OperationalError("injected: server closed the connection unexpectedly")
    return execute(sql, params, many, context)


def warnings_naming(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        entry
        for entry in caplog.records
        if entry.levelno == logging.WARNING and text in entry.getMessage()
    ]


# --- uploads under failures (file system) ----------------------------------------------


def _raise_before_writing(self: Any, name: str, content: Any) -> str:
    raise OSError(errno.ENOSPC, "No space left on device")


def _raise_in_save(self: Any, name: str, content: Any, max_length: int | None = None) -> str:
    raise RuntimeError("injected: storage backend bug")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "failure"),
    [("_save", _raise_before_writing), ("save", _raise_in_save)],
    ids=["disk-full-in-_save", "error-in-save"],
)
def test_an_upload_the_storage_refuses_answers_503_and_leaves_no_row_and_no_file(
    member, member_client, media_root, monkeypatch, method, failure
):
    monkeypatch.setattr(FileSystemStorage, method, failure)

    response = post_file(member_client, "photo.png", png_bytes(), "image/png")

    assert_error(response, 503, "service_unavailable")
    assert not File.objects.exists()
    assert media_files(media_root) == set()


@pytest.mark.django_db
def test_an_upload_whose_storage_fails_half_way_through_writing_leaves_no_partial_file(
    member, member_client, media_root, monkeypatch
):
    # FileSystemStorage writes chunk by chunk and keeps what it wrote when a write
    # fails (a disk filling up): the service must remove the partial file itself.
    real_save = FileSystemStorage._save

    class DiskFillsUp:
        def __init__(self, content: Any) -> None:
            self.content = content

        def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
            for chunk in self.content.chunks():
                yield chunk[: len(chunk) // 2]
                raise OSError(errno.ENOSPC, "No space left on device")

    def save_until_the_disk_is_full(self: Any, name: str, content: Any) -> str:
        return real_save(self, name, DiskFillsUp(content))

    monkeypatch.setattr(FileSystemStorage, "_save", save_until_the_disk_is_full)

    response = post_file(member_client, "notes.txt", text_of_size(4096), "text/plain")

    assert_error(response, 503, "service_unavailable")
    assert not File.objects.exists()
    assert media_files(media_root) == set()


@pytest.mark.django_db
def test_an_upload_whose_row_insert_fails_after_storing_removes_the_stored_file(
    member, member_client, task, media_root
):
    stored: list[str] = []
    real_save = FileSystemStorage._save

    def save_and_note(self: Any, name: str, content: Any) -> str:
        stored.append(real_save(self, name, content))
        return stored[-1]

    with pytest.MonkeyPatch.context() as patch, connection.execute_wrapper(fail_file_inserts):
        patch.setattr(FileSystemStorage, "_save", save_and_note)
        response = post_file(member_client, "photo.png", png_bytes(), "image/png", task=task)

    assert_error(response, 503, "service_unavailable")
    assert len(stored) == 1, "the bytes were stored before the insert failed"
    assert not File.objects.exists()
    assert media_files(media_root) == set()
    # The connection is usable afterwards and the next upload goes through.
    assert post_file(member_client, "photo.png", png_bytes(), "image/png").status_code == 201


@pytest.mark.django_db
def test_an_upload_whose_key_collides_with_a_row_is_refused_and_the_old_row_kept(
    member, member_client, media_root, monkeypatch
):
    # A real IntegrityError: a row already holds the name (its bytes are gone), so
    # the storage accepts the name again but the unique insert fails.
    key = uuid.UUID("ab" + "0" * 30)
    taken = f"uploads/ab/{key.hex}"
    old = record(member, taken, b"lost bytes")
    monkeypatch.setattr(services, "uuid", SimpleNamespace(uuid4=lambda: key))

    response = post_file(member_client, "photo.png", png_bytes(), "image/png")

    assert_error(response, 503, "service_unavailable")
    assert list(File.objects.values_list("pk", "storage_name")) == [(old.pk, taken)]
    assert media_files(media_root) == set()


class _BrokenSha256:
    def update(self, data: bytes) -> None:
        raise RuntimeError("injected: hashing failed")

    def hexdigest(self) -> str:  # pragma: no cover - never reached
        raise AssertionError


def _break_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "hashlib", SimpleNamespace(sha256=_BrokenSha256))


def _break_sniffing(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("injected: puremagic crashed on this input")

    monkeypatch.setattr(puremagic, "magic_string", crash)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("breakage", "status", "code"),
    [
        (_break_hashing, 500, "server_error"),
        # Bytes the sniffer chokes on are bytes it cannot vouch for.
        (_break_sniffing, 415, "unsupported_media_type"),
    ],
    ids=["hash", "sniff"],
)
def test_a_failure_while_hashing_or_validating_leaves_nothing(
    member, member_client, media_root, monkeypatch, breakage, status, code
):
    breakage(monkeypatch)
    member_client.raise_request_exception = False

    response = post_file(member_client, "photo.png", png_bytes(), "image/png")

    assert_error(response, status, code)
    assert not File.objects.exists()
    assert media_files(media_root) == set()


# --- deletes under failures (after commit really runs) ----------------------------------


def _refuse_delete(self: Any, name: str) -> None:
    raise PermissionError(errno.EACCES, "Permission denied", name)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_delete_whose_storage_delete_fails_removes_the_row_and_logs_a_warning(
    member, member_client, media_root, monkeypatch, caplog
):
    body = upload(member_client, "png")
    storage_name = File.objects.get(pk=body["id"]).storage_name
    stored = media_root / storage_name
    assert stored.read_bytes() == png_bytes()
    monkeypatch.setattr(FileSystemStorage, "delete", _refuse_delete)

    with caplog.at_level(logging.WARNING):
        response = member_client.delete(file_url(body))

    assert response.status_code == 204, response.content
    assert not File.objects.filter(pk=body["id"]).exists()
    assert member_client.get(file_url(body)).status_code == 404
    assert stored.exists(), "the failed delete leaves the bytes as an orphan"
    assert warnings_naming(caplog, storage_name), caplog.text

    # cleanup_files finds the orphan and, with a working storage, removes it.
    monkeypatch.undo()
    lines = cleanup("--older-than", "0")

    assert f"orphan {storage_name} {len(png_bytes())} bytes" in lines
    assert f"orphans: 1 ({len(png_bytes())} bytes) removed" in lines
    assert not stored.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_delete_removes_the_stored_file_only_once_it_commits(member, member_client, media_root):
    body = upload(member_client, "pdf")
    row = File.objects.get(pk=body["id"])
    stored = media_root / row.storage_name

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        services.file_delete(file=row)
        assert stored.exists(), "bytes are removed after commit, not before"
        raise RolledBack

    assert File.objects.filter(pk=row.pk).exists()
    assert stored.exists()

    assert member_client.delete(file_url(body)).status_code == 204
    assert not File.objects.filter(pk=row.pk).exists()
    assert not stored.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_deleting_a_task_whose_attachments_cannot_be_removed_still_deletes_it(
    member, member_client, task, media_root, monkeypatch, caplog
):
    first = upload(member_client, "txt", task=task)
    second = upload(member_client, "png", task=task)
    names = {File.objects.get(pk=body["id"]).storage_name for body in (first, second)}
    monkeypatch.setattr(FileSystemStorage, "delete", _refuse_delete)

    with caplog.at_level(logging.WARNING):
        response = member_client.delete(f"/api/v1/tasks/{task.pk}/")

    assert response.status_code == 204, response.content
    assert not Task.objects.filter(pk=task.pk).exists()
    assert not File.objects.exists()
    assert stored_names() == names
    for name in names:
        assert warnings_naming(caplog, name), caplog.text


# --- cleanup_files (file system) -------------------------------------------------------


@pytest.mark.django_db
def test_cleanup_removes_orphans_older_than_an_hour_and_keeps_young_ones_and_rows(
    member, media_root
):
    old = put_on_disk(media_root, "uploads/aa/old-orphan", b"12345", age=2 * HOUR)
    young = put_on_disk(media_root, "uploads/bb/young-orphan", b"123", age=10 * 60)
    kept = put_on_disk(media_root, "uploads/cc/has-a-row", b"row bytes", age=3 * HOUR)
    record(member, "uploads/cc/has-a-row", b"row bytes")

    lines = cleanup()

    assert "orphan uploads/aa/old-orphan 5 bytes" in lines
    assert "orphans: 1 (5 bytes) removed" in lines
    assert "missing: 0" in lines
    assert not any("young-orphan" in line or "has-a-row" in line for line in lines), lines
    assert not old.exists()
    assert young.exists()
    assert kept.read_bytes() == b"row bytes"
    assert File.objects.count() == 1


@pytest.mark.django_db
def test_cleanup_older_than_sets_the_age_an_orphan_must_reach(media_root):
    ten_minutes = put_on_disk(media_root, "uploads/aa/ten-minutes", b"x" * 10, age=10 * 60)
    half_hour = put_on_disk(media_root, "uploads/bb/half-an-hour", b"y" * 30, age=30 * 60)

    lines = cleanup("--older-than", "1200")

    assert lines[:2] == ["orphan uploads/bb/half-an-hour 30 bytes", "orphans: 1 (30 bytes) removed"]
    assert ten_minutes.exists()
    assert not half_hour.exists()

    assert "orphans: 1 (10 bytes) removed" in cleanup("--older-than", "300")
    assert not ten_minutes.exists()


@pytest.mark.django_db
def test_cleanup_dry_run_lists_the_orphans_and_removes_nothing(member, media_root):
    first = put_on_disk(media_root, "uploads/aa/first", b"abc")
    second = put_on_disk(media_root, "uploads/stray-at-the-top", b"defghij")
    kept = put_on_disk(media_root, "uploads/cc/has-a-row", b"row bytes")
    record(member, "uploads/cc/has-a-row", b"row bytes")

    dry = cleanup("--dry-run")

    assert "orphan uploads/aa/first 3 bytes" in dry
    assert "orphan uploads/stray-at-the-top 7 bytes" in dry
    assert "orphans: 2 (10 bytes) would be removed" in dry
    assert not any(line.endswith(" removed") and "would" not in line for line in dry), dry
    assert first.exists()
    assert second.exists()

    assert "orphans: 2 (10 bytes) removed" in cleanup()
    assert not first.exists()
    assert not second.exists()
    assert kept.exists()
    assert "orphans: 0 (0 bytes) removed" in cleanup()


@pytest.mark.django_db
def test_cleanup_reports_rows_whose_stored_file_is_missing_and_keeps_them(member, media_root):
    gone = record(member, "uploads/dd/bytes-are-gone", b"lost")
    put_on_disk(media_root, "uploads/ee/present", b"here")
    present = record(member, "uploads/ee/present", b"here")

    for args in (("--dry-run",), ()):
        lines = cleanup(*args)

        assert "missing: 1" in lines, lines
        assert any(str(gone.pk) in line for line in lines if line.startswith("missing")), lines
        assert set(File.objects.values_list("pk", flat=True)) == {gone.pk, present.pk}
    assert (media_root / "uploads/ee/present").read_bytes() == b"here"


@pytest.mark.django_db
def test_cleanup_never_touches_files_outside_uploads(media_root):
    outside = [
        put_on_disk(media_root, "top-level.txt", b"1", age=48 * HOUR),
        put_on_disk(media_root, "avatars/someone.png", b"22", age=48 * HOUR),
        put_on_disk(media_root, "uploads-old/aa/looks-similar", b"333", age=48 * HOUR),
        put_on_disk(media_root, "backup/uploads/aa/nested-copy", b"4444", age=48 * HOUR),
    ]
    orphan = put_on_disk(media_root, "uploads/ff/real-orphan", b"55555", age=48 * HOUR)

    lines = cleanup("--older-than", "0")

    assert [line for line in lines if line.startswith("orphan")] == [
        "orphan uploads/ff/real-orphan 5 bytes",
        "orphans: 1 (5 bytes) removed",
    ]
    assert not orphan.exists()
    assert all(path.exists() for path in outside)


def vanish_after_listing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`name` is removed from storage right after cleanup lists it, as a failed upload
    removing its own bytes, or another cleanup run, would."""
    listed = services._stored_names

    def listing(directory: str) -> Iterator[str]:
        names = list(listed(directory))  # recurses through this wrapper
        if directory == services.STORAGE_PREFIX:  # the whole listing is done
            assert name in names
            default_storage.delete(name)
        return iter(names)

    monkeypatch.setattr(services, "_stored_names", listing)


@pytest.mark.django_db
def test_cleanup_skips_an_orphan_removed_while_it_runs(media_root, monkeypatch):
    put_on_disk(media_root, "uploads/aa/old-orphan", b"12345")
    put_on_disk(media_root, "uploads/bb/vanishing", b"123")
    vanish_after_listing(monkeypatch, "uploads/bb/vanishing")

    lines = cleanup()

    assert lines == [
        "orphan uploads/aa/old-orphan 5 bytes",
        "orphans: 1 (5 bytes) removed",
        "missing: 0",
    ]
    assert media_files(media_root) == set()


@pytest.mark.django_db
@pytest.mark.parametrize("age", [str(10**11), str(10**15), str(10**30)])
def test_cleanup_older_than_beyond_the_calendar_removes_nothing_and_still_reports(
    member, media_root, age
):
    # 10**11 s reach before year 1 (date out of range), 10**15 s overflow timedelta:
    # both were a traceback for an operator's typo.
    orphan = put_on_disk(media_root, "uploads/aa/old-orphan", b"12345", age=48 * HOUR)
    gone = record(member, "uploads/bb/bytes-are-gone", b"lost")

    lines = cleanup("--older-than", age)

    assert lines == [
        "orphans: 0 (0 bytes) removed",
        f"missing: file {gone.pk} has no stored bytes",
        "missing: 1",
    ]
    assert orphan.exists()


@pytest.mark.django_db
def test_cleanup_with_no_uploads_folder_reports_nothing(media_root):
    assert cleanup() == ["orphans: 0 (0 bytes) removed", "missing: 0"]


# --- S3 through moto's server ----------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """An S3 endpoint served by moto in a thread of this process."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_storage(bucket: str, endpoint: str) -> dict[str, Any]:
    return {
        "BACKEND": S3_BACKEND,
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": REGION,
            "access_key": DUMMY_KEY_ID,
            "secret_key": DUMMY_SECRET,
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }


@dataclass
class Bucket:
    name: str
    client: Any

    def objects(self) -> set[str]:
        listed = self.client.list_objects_v2(Bucket=self.name)
        return {item["Key"] for item in listed.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, content: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=content)


@pytest.fixture
def s3_client(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_STORAGE_BUCKET_NAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def bucket(s3_client: Any, moto_endpoint: str, settings: Any, media_root: Path) -> Bucket:
    """A fresh bucket on moto, and the default storage switched to it."""
    name = f"files-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(name, moto_endpoint)}
    return Bucket(name, s3_client)


@pytest.mark.django_db
def test_s3_the_default_storage_is_the_bucket(bucket):
    # Guards every other S3 test: they really go through django-storages.
    storage = storages["default"]
    assert f"{type(storage).__module__}.{type(storage).__qualname__}" == S3_BACKEND
    assert storage.bucket_name == bucket.name


@pytest.mark.django_db
def test_s3_an_upload_stores_the_bytes_in_the_bucket_under_a_random_key(
    member, member_client, bucket, media_root
):
    content = sample("pdf")

    response = post_file(member_client, "Quarterly report.pdf", content, "text/plain")

    assert response.status_code == 201, response.content
    storage_name = File.objects.get(pk=response.json()["id"]).storage_name
    assert storage_name.startswith("uploads/")
    assert "report" not in storage_name.lower()
    assert bucket.objects() == {storage_name}
    assert bucket.read(storage_name) == content
    assert response.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert media_files(media_root) == set(), "nothing went to the local disk"


@pytest.mark.django_db
def test_s3_a_download_streams_the_stored_bytes(member, member_client, bucket):
    content = text_of_size(200_000)  # several download blocks
    response = post_file(member_client, "big.txt", content, "text/plain")
    assert response.status_code == 201, response.content
    body = response.json()

    download = member_client.get(download_url(body))

    assert download.status_code == 200
    assert download.streaming
    assert download["Content-Length"] == str(len(content))
    assert b"".join(download.streaming_content) == content
    download.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_s3_a_delete_removes_the_object(member, member_client, bucket):
    kept = upload(member_client, "gif")
    body = upload(member_client, "png")
    storage_name = File.objects.get(pk=body["id"]).storage_name
    kept_name = File.objects.get(pk=kept["id"]).storage_name
    assert bucket.objects() == {storage_name, kept_name}

    response = member_client.delete(file_url(body))

    assert response.status_code == 204, response.content
    assert bucket.objects() == {kept_name}
    with pytest.raises(ClientError):
        bucket.client.head_object(Bucket=bucket.name, Key=storage_name)


@pytest.mark.django_db
def test_s3_cleanup_removes_old_orphan_objects_and_nothing_else(
    member, member_client, bucket, monkeypatch
):
    bucket.put("uploads/aa/old-orphan", b"orphaned")
    bucket.put("avatars/outside-uploads", b"not ours")
    bucket.put("uploads-old/aa/looks-similar", b"not ours either")
    # S3 keeps modification times in whole seconds: at least 2 s apart after this.
    time.sleep(2.1)
    bucket.put("uploads/bb/young-orphan", b"young")
    with_row = File.objects.get(pk=upload(member_client, "txt")["id"]).storage_name
    # The clock stands half a second after the young orphan was stored, however long
    # the run takes: 1 s is then past the old orphan and not yet the young one.
    young_at = bucket.client.head_object(Bucket=bucket.name, Key="uploads/bb/young-orphan")[
        "LastModified"
    ]
    monkeypatch.setattr(
        services, "timezone", SimpleNamespace(now=lambda: young_at + timedelta(seconds=0.5))
    )

    dry = cleanup("--dry-run", "--older-than", "1")

    assert "orphan uploads/aa/old-orphan 8 bytes" in dry
    assert "orphans: 1 (8 bytes) would be removed" in dry
    assert "uploads/aa/old-orphan" in bucket.objects()

    lines = cleanup("--older-than", "1")

    assert "orphans: 1 (8 bytes) removed" in lines
    assert "missing: 0" in lines
    assert bucket.objects() == {
        "avatars/outside-uploads",
        "uploads-old/aa/looks-similar",
        "uploads/bb/young-orphan",
        with_row,
    }


@pytest.mark.django_db
def test_s3_cleanup_skips_an_orphan_removed_while_it_runs(bucket, monkeypatch):
    # S3 answers the missing object with a ClientError, not FileNotFoundError.
    bucket.put("uploads/aa/orphan", b"12345")
    bucket.put("uploads/bb/vanishing", b"123")
    vanish_after_listing(monkeypatch, "uploads/bb/vanishing")

    lines = cleanup("--older-than", "0")

    assert lines == [
        "orphan uploads/aa/orphan 5 bytes",
        "orphans: 1 (5 bytes) removed",
        "missing: 0",
    ]
    assert bucket.objects() == set()


@pytest.mark.django_db
def test_s3_cleanup_reports_a_row_whose_object_is_gone(member, member_client, bucket):
    body = upload(member_client, "txt")
    storage_name = File.objects.get(pk=body["id"]).storage_name
    bucket.client.delete_object(Bucket=bucket.name, Key=storage_name)

    lines = cleanup("--older-than", "0")

    assert "missing: 1" in lines
    assert "orphans: 0 (0 bytes) removed" in lines
    assert File.objects.filter(pk=body["id"]).exists()


@pytest.mark.django_db
def test_s3_an_upload_whose_row_insert_fails_leaves_no_object(member, member_client, bucket):
    with connection.execute_wrapper(fail_file_inserts):
        response = post_file(member_client, "photo.png", png_bytes(), "image/png")

    assert_error(response, 503, "service_unavailable")
    assert not File.objects.exists()
    assert bucket.objects() == set()


@pytest.mark.django_db
def test_s3_an_upload_to_a_missing_bucket_answers_503_and_leaves_no_row(
    member, member_client, s3_client, moto_endpoint, settings
):
    missing = f"files-missing-{uuid.uuid4().hex[:12]}"
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(missing, moto_endpoint)}

    response = post_file(member_client, "notes.txt", text_bytes(), "text/plain")

    assert_error(response, 503, "service_unavailable")
    assert not File.objects.exists()
    assert member_client.get(FILES_URL).json()["count"] == 0


# --- the settings switch to S3 ---------------------------------------------------------

_STORAGE_PROBE = """
import json, django
from django.conf import settings
django.setup()
from django.core.files.storage import storages
storage = storages["default"]
print(json.dumps({
    "storage": settings.STORAGES["default"],
    "class": type(storage).__module__ + "." + type(storage).__qualname__,
    "media_root": str(settings.MEDIA_ROOT),
    "location": str(getattr(storage, "location", "")),
    "bucket_name": getattr(storage, "bucket_name", None),
    "endpoint_url": getattr(storage, "endpoint_url", None),
    "file_overwrite": getattr(storage, "file_overwrite", None),
    "querystring_auth": getattr(storage, "querystring_auth", None),
}))
"""

_AWS_VARIABLES = (
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_REGION_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


@pytest.fixture
def storage_probe(monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """`storage_probe(tmp_path, **environment)`: the file storage settings and the
    default storage object of a fresh interpreter (test_settings' `probe`, asked
    about storage), with none of the S3 variables inherited from this process."""
    monkeypatch.setattr(test_settings, "_PROBE", _STORAGE_PROBE)
    for variable in _AWS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return test_settings.probe


def test_settings_select_s3_when_a_bucket_is_named(tmp_path, storage_probe):
    found = storage_probe(
        tmp_path,
        AWS_STORAGE_BUCKET_NAME="tm-files",
        AWS_S3_ENDPOINT_URL="http://minio.internal:9000",
        AWS_S3_REGION_NAME="eu-west-3",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret-example",
    )

    assert found["storage"]["BACKEND"] == S3_BACKEND
    expected = {
        "bucket_name": "tm-files",
        "endpoint_url": "http://minio.internal:9000",
        "region_name": "eu-west-3",
        "access_key": "AKIAEXAMPLE",
        "secret_key": "secret-example",
        "file_overwrite": False,
        "default_acl": None,
        "querystring_auth": True,
    }
    options = found["storage"]["OPTIONS"]
    assert {key: options.get(key) for key in expected} == expected
    # django-storages accepts the options as given.
    assert found["class"] == S3_BACKEND
    assert found["bucket_name"] == "tm-files"
    assert found["endpoint_url"] == "http://minio.internal:9000"
    assert found["file_overwrite"] is False
    assert found["querystring_auth"] is True


def test_settings_with_only_a_bucket_leave_endpoint_and_keys_to_boto3(tmp_path, storage_probe):
    found = storage_probe(tmp_path, AWS_STORAGE_BUCKET_NAME="tm-files")

    options = found["storage"]["OPTIONS"]
    assert found["storage"]["BACKEND"] == S3_BACKEND
    assert options["bucket_name"] == "tm-files"
    # Empty strings would break boto3 (an endpoint of "" is invalid); None lets it
    # use AWS itself and its own credential chain (instance role, ~/.aws).
    assert options.get("endpoint_url") is None
    assert options.get("access_key") is None
    assert options.get("secret_key") is None
    assert found["class"] == S3_BACKEND


def test_settings_without_a_bucket_keep_files_on_the_local_disk(tmp_path, storage_probe):
    found = storage_probe(tmp_path, AWS_S3_ENDPOINT_URL="http://minio.internal:9000")

    assert found["storage"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert found["class"] == "django.core.files.storage.filesystem.FileSystemStorage"
    assert found["location"] == found["media_root"] == str(tmp_path / "media")
