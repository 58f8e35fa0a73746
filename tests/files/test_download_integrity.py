"""A download whose stored bytes are missing or not the ones uploaded is 410 `gone`,
logged as an error, on the local disk and on S3; a storage that fails is still 503.

Who is who: member ("mia") uploads.
"""

import errno
import logging
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage

from files.models import File
from tests.files.test_storage import Bucket, bucket, moto_endpoint, s3_client  # noqa: F401
from tests.helpers import assert_error, download_url, upload

pytestmark = pytest.mark.django_db


def stored_path(media_root: Path, body: dict[str, Any]) -> Path:
    return media_root / File.objects.get(pk=body["id"]).storage_name


def assert_gone_and_logged(response: Any, caplog: pytest.LogCaptureFixture, file_id: int) -> None:
    assert_error(response, 410, "gone")
    assert "Content-Disposition" not in response
    errors = [
        entry
        for entry in caplog.records
        if entry.name == "files.views" and entry.levelno == logging.ERROR
    ]
    assert len(errors) == 1, caplog.records
    assert f"file {file_id} " in errors[0].getMessage()


def test_missing_bytes_on_disk_are_gone(member_client, media_root, caplog):
    body = upload(member_client, "png")
    stored_path(media_root, body).unlink()

    response = member_client.get(download_url(body))

    assert_gone_and_logged(response, caplog, body["id"])


@pytest.mark.parametrize("change", ["longer", "shorter"])
def test_bytes_on_disk_of_another_size_are_gone(change, member_client, media_root, caplog):
    body = upload(member_client, "png")
    path = stored_path(media_root, body)
    content = path.read_bytes()
    path.write_bytes(content + b"X" if change == "longer" else content[:-1])

    response = member_client.get(download_url(body))

    assert_gone_and_logged(response, caplog, body["id"])


def test_a_storage_that_cannot_be_read_is_still_503(member_client, monkeypatch):
    body = upload(member_client, "png")

    def unreadable(self: Any, name: str, mode: str = "rb") -> Any:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(FileSystemStorage, "_open", unreadable)

    assert_error(member_client.get(download_url(body)), 503, "service_unavailable")


def test_s3_a_missing_object_is_gone(member_client, bucket: Bucket, caplog):  # noqa: F811
    body = upload(member_client, "png")
    key = File.objects.get(pk=body["id"]).storage_name
    bucket.client.delete_object(Bucket=bucket.name, Key=key)

    response = member_client.get(download_url(body))

    assert_gone_and_logged(response, caplog, body["id"])


def test_s3_an_object_of_another_size_is_gone(member_client, bucket: Bucket, caplog):  # noqa: F811
    body = upload(member_client, "png")
    key = File.objects.get(pk=body["id"]).storage_name
    bucket.put(key, bucket.read(key) + b"X" * 10)

    response = member_client.get(download_url(body))

    assert_gone_and_logged(response, caplog, body["id"])


def test_s3_an_intact_object_is_served_with_its_length(member_client, bucket: Bucket):  # noqa: F811
    # The control for the two above: the size S3 reports is the one recorded.
    body = upload(member_client, "png")

    response = member_client.get(download_url(body))

    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert response["Content-Length"] == str(len(content)) == str(body["size"])
    response.close()
