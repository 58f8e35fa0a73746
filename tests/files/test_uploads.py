"""POST files/: what is accepted (each allowed type, told by its content), what is
refused and how (400, 413, 415, 404), the stored bytes and names, task attachments,
and that nothing is left behind by a refused upload.

Every body is multipart built by hand (tests.files.samples.multipart), so filenames
and Content-Types reach the server exactly as a hostile client would send them.
"""

import gc
import hashlib
import re
import unicodedata
import warnings
from pathlib import Path

import pytest
from django.core.files import uploadhandler

from files.models import File
from files.uploads import SizeLimitUploadHandler
from tests.factories import TaskFactory
from tests.files.helpers import media_files
from tests.files.samples import (
    DOCX_TYPE,
    SAMPLES,
    doc_bytes,
    docx_bytes,
    docx_with_odd_directory,
    gif_bytes,
    jpeg_bytes,
    multipart,
    pdf_bytes,
    plain_zip_bytes,
    png_bytes,
    random_bytes,
    sample,
    text_bytes,
    text_of_size,
    zip_bytes,
)
from tests.helpers import FILE_SHAPE, FILES_URL, assert_error, assert_field_error, post_file, upload

pytestmark = pytest.mark.django_db

HEX64 = re.compile(r"[0-9a-f]{64}")


def assert_nothing_stored(media_root: Path) -> None:
    """No row, and not a single byte under MEDIA_ROOT (not even an empty folder's file)."""
    assert File.objects.count() == 0
    assert media_files(media_root) == set()


def assert_stored(body: dict, content: bytes, media_root: Path) -> File:
    """The row behind `body` holds `content`: size, digest and the bytes on disk."""
    row = File.objects.get(pk=body["id"])
    assert body["size"] == row.size == len(content)
    assert body["sha256"] == row.sha256 == hashlib.sha256(content).hexdigest()
    assert HEX64.fullmatch(row.sha256)
    path = media_root / row.storage_name
    assert path.is_file(), row.storage_name
    assert path.read_bytes() == content
    return row


# -- accepted types -----------------------------------------------------------------


@pytest.mark.parametrize("extension", sorted(SAMPLES))
def test_each_allowed_type_with_real_content_is_stored_with_its_canonical_type(
    member_client, member, media_root, extension
):
    content = sample(extension)

    response = post_file(member_client, f"report.{extension}", content)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FILE_SHAPE
    assert body["name"] == f"report.{extension}"
    assert body["content_type"] == SAMPLES[extension][1]
    assert body["task"] is None
    assert body["created_at"]
    assert body["download_url"] == f"http://testserver/api/v1/files/{body['id']}/download/"
    row = assert_stored(body, content, media_root)
    assert row.owner_id == member.pk
    assert row.name == body["name"]
    assert row.content_type == body["content_type"]
    assert row.task_id is None


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("NOTES.TXT", "text/plain"),
        ("Scan.PDF", "application/pdf"),
        ("LOGO.PNG", "image/png"),
        ("Photo.JPG", "image/jpeg"),
        ("photo.JpEg", "image/jpeg"),
        ("ANIM.GIF", "image/gif"),
        ("Letter.DOC", "application/msword"),
        ("Letter.DOCX", DOCX_TYPE),
    ],
)
def test_upper_and_mixed_case_extensions_are_accepted_and_the_name_kept_as_given(
    member_client, media_root, name, content_type
):
    content = sample(name.rsplit(".", 1)[1])

    response = post_file(member_client, name, content)

    assert response.status_code == 201, response.content
    assert response.json()["name"] == name
    assert response.json()["content_type"] == content_type
    assert_stored(response.json(), content, media_root)


def test_a_utf8_text_with_a_multibyte_character_split_across_any_boundary_is_text(
    member_client, media_root
):
    # 2 MiB (past the in-memory limit, so read back in chunks from a temporary file)
    # of three-byte characters: chunk boundaries fall inside characters.
    content = ("€" * (2 * 1024 * 1024 // 3)).encode("utf-8")

    response = post_file(member_client, "euros.txt", content)

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "text/plain"
    assert_stored(response.json(), content, media_root)


def test_an_empty_looking_but_valid_text_of_whitespace_is_accepted(member_client, media_root):
    response = post_file(member_client, "blank.txt", b" \n")

    assert response.status_code == 201, response.content
    assert_stored(response.json(), b" \n", media_root)


# -- client Content-Type ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "claimed", "stored"),
    [
        ("x.png", png_bytes(), "text/plain", "image/png"),
        ("x.png", png_bytes(), "application/x-msdownload", "image/png"),
        ("x.pdf", pdf_bytes(), "text/html", "application/pdf"),
        ("x.txt", text_bytes(), "image/png", "text/plain"),
        ("x.docx", docx_bytes(), "application/zip", DOCX_TYPE),
        ("x.gif", gif_bytes(), "", "image/gif"),
    ],
)
def test_the_client_content_type_is_ignored_for_accepted_files(
    member_client, media_root, name, content, claimed, stored
):
    response = post_file(member_client, name, content, claimed)

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == stored
    assert File.objects.get().content_type == stored


@pytest.mark.parametrize(
    ("name", "content", "claimed"),
    [
        ("x.txt", png_bytes(), "text/plain"),
        ("x.png", text_bytes(), "image/png"),
        ("x.pdf", b"<html><body>not a pdf</body></html>", "application/pdf"),
    ],
)
def test_a_matching_client_content_type_does_not_rescue_wrong_content(
    member_client, media_root, name, content, claimed
):
    response = post_file(member_client, name, content, claimed)

    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(media_root)


# -- spoofed content ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("notes.png", text_bytes(), id="text named png"),
        pytest.param("scan.pdf", png_bytes(), id="png named pdf"),
        pytest.param("photo.jpg", gif_bytes(), id="gif named jpg"),
        pytest.param("photo.jpeg", png_bytes(), id="png named jpeg"),
        pytest.param("anim.gif", jpeg_bytes(), id="jpeg named gif"),
        pytest.param("logo.png", pdf_bytes(), id="pdf named png"),
        pytest.param("letter.docx", plain_zip_bytes(), id="plain zip named docx"),
        pytest.param(
            "letter.docx",
            zip_bytes({"[Content_Types].xml": "<Types/>", "word/other.xml": "<x/>"}),
            id="zip without word/document.xml named docx",
        ),
        pytest.param("letter.docx", doc_bytes(), id="doc named docx"),
        pytest.param("letter.docx", b"PK\x03\x04" + random_bytes(500), id="broken zip named docx"),
        pytest.param(
            "letter.docx", docx_with_odd_directory(version_needed=100), id="docx of zip version 10"
        ),
        pytest.param(
            "letter.docx",
            docx_with_odd_directory(undecodable_name=True),
            id="docx with a name that is not utf-8",
        ),
        pytest.param("letter.doc", random_bytes(), id="random bytes named doc"),
        pytest.param("letter.doc", docx_bytes(), id="docx named doc"),
        pytest.param("letter.doc", text_bytes(), id="text named doc"),
        pytest.param("report.pdf", text_bytes(), id="text named pdf"),
        pytest.param("notes.txt", "café au lait\n".encode("latin-1"), id="latin-1 named txt"),
        pytest.param("notes.txt", b"abc\x00def\n", id="nul byte named txt"),
        pytest.param("notes.txt", "line\n".encode("utf-16"), id="utf-16 named txt"),
        pytest.param("notes.txt", png_bytes(), id="png named txt"),
        pytest.param("notes.txt", b"ok\n" + b"\xe2\x82", id="truncated utf-8 named txt"),
    ],
)
def test_content_that_is_not_what_its_extension_says_is_415(
    member_client, media_root, name, content
):
    response = post_file(member_client, name, content, "application/octet-stream")

    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(media_root)


# -- disallowed extensions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("setup.exe", b"MZ\x90\x00" + random_bytes(200), id="exe"),
        pytest.param("page.html", b"<!doctype html><script>alert(1)</script>", id="html"),
        pytest.param("page.htm", b"<html></html>", id="htm"),
        pytest.param(
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            id="svg",
        ),
        pytest.param("archive.zip", plain_zip_bytes(), id="zip"),
        pytest.param("README", text_bytes(), id="no extension"),
        pytest.param("notes.", text_bytes(), id="empty extension"),
        pytest.param("report.pdf.exe", pdf_bytes(), id="allowed then disallowed"),
        pytest.param("script.js", b"alert(1)\n", id="js"),
        pytest.param("notes.text", text_bytes(), id="near miss"),
    ],
)
def test_a_disallowed_or_missing_extension_is_415(member_client, media_root, name, content):
    response = post_file(member_client, name, content, "text/plain")

    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(media_root)


def test_a_disallowed_extension_before_an_allowed_one_is_judged_by_the_last(
    member_client, media_root
):
    response = post_file(member_client, "setup.exe.png", png_bytes())

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "image/png"


# -- malformed requests -------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.txt", "empty.png", "empty.docx"])
def test_an_empty_file_is_a_validation_error_on_file(member_client, media_root, name):
    response = post_file(member_client, name, b"")

    assert_field_error(response, "file")
    assert_nothing_stored(media_root)


def test_a_body_without_the_file_field_is_a_validation_error_on_file(member_client, media_root):
    body, content_type = multipart(fields={})

    response = member_client.generic("POST", FILES_URL, body, content_type=content_type)

    assert_field_error(response, "file")
    assert_nothing_stored(media_root)


def test_a_task_without_a_file_is_a_validation_error_on_file(member_client, task, media_root):
    body, content_type = multipart(fields={"task": str(task.pk)})

    response = member_client.generic("POST", FILES_URL, body, content_type=content_type)

    assert_field_error(response, "file")
    assert_nothing_stored(media_root)


def test_a_file_field_sent_as_plain_text_is_a_validation_error_on_file(member_client, media_root):
    body, content_type = multipart(fields={"file": "just a string"})

    response = member_client.generic("POST", FILES_URL, body, content_type=content_type)

    assert_field_error(response, "file")
    assert_nothing_stored(media_root)


def test_a_file_under_another_field_name_is_refused_naming_it(member_client, media_root):
    response = post_file(member_client, "notes.txt", text_bytes(), field="upload")

    assert_field_error(response, "upload")
    assert_nothing_stored(media_root)


@pytest.mark.parametrize("extra", [{"comment": "hello"}, {"owner": "1"}, {"sha256": "0" * 64}])
def test_an_unknown_form_field_is_a_validation_error_naming_it(member_client, media_root, extra):
    response = post_file(member_client, "notes.txt", text_bytes(), fields=extra)

    error = assert_field_error(response, next(iter(extra)))
    assert set(error["fields"]) == set(extra), error
    assert_nothing_stored(media_root)


def repeated_fields_body(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart body from (field, filename or None for a plain field, content),
    in order and with repeats, which `multipart` (a dict) cannot send."""
    boundary = "----files-test-repeated"
    body = b""
    for field, filename, content in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_two_files_in_one_upload_are_a_validation_error_on_file(member_client, media_root):
    # One row per upload: keeping the last file and answering 201 dropped the others
    # without a word.
    body, content_type = repeated_fields_body(
        [("file", "one.png", png_bytes()), ("file", "two.pdf", pdf_bytes())]
    )

    response = member_client.generic("POST", FILES_URL, body, content_type=content_type)

    error = assert_field_error(response, "file")
    assert set(error["fields"]) == {"file"}, error
    assert_nothing_stored(media_root)


def test_two_task_values_are_a_validation_error_on_task(member_client, task, media_root):
    other_task = TaskFactory(owner=task.owner)
    body, content_type = repeated_fields_body(
        [
            ("task", None, str(task.pk).encode()),
            ("task", None, str(other_task.pk).encode()),
            ("file", "notes.txt", text_bytes()),
        ]
    )

    response = member_client.generic("POST", FILES_URL, body, content_type=content_type)

    error = assert_field_error(response, "task")
    assert set(error["fields"]) == {"task"}, error
    assert_nothing_stored(media_root)


def test_options_describe_the_upload_form_file_and_task(member_client, media_root):
    # Clients (and the browsable API's form) build the upload form from this; it
    # described the output's read-only fields, with no file input at all.
    response = member_client.options(FILES_URL)

    assert response.status_code == 200, response.content
    post = response.json()["actions"]["POST"]
    assert set(post) == {"file", "task"}
    assert post["file"]["type"] == "file upload"
    assert post["file"]["required"] is True
    assert post["task"]["required"] is False


def test_the_browsable_api_offers_a_file_input_to_upload(member_client, media_root):
    response = member_client.get(FILES_URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    file_input = rb'<input(?=[^>]*\bname="file")(?=[^>]*\btype="file")'
    assert re.search(file_input, response.content)


def test_a_json_body_is_415(member_client, media_root):
    response = member_client.post(
        FILES_URL, {"file": "aGVsbG8=", "name": "notes.txt"}, format="json"
    )

    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(media_root)


def test_a_urlencoded_form_is_415(member_client, media_root):
    response = member_client.generic(
        "POST", FILES_URL, "file=hello", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(media_root)


def test_a_raw_body_with_a_file_content_type_is_415(member_client, media_root):
    response = member_client.generic("POST", FILES_URL, png_bytes(), content_type="image/png")

    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(media_root)


def test_anonymous_upload_is_401_and_stores_nothing(api_client, media_root):
    response = post_file(api_client, "notes.txt", text_bytes())

    assert_error(response, 401, "not_authenticated")
    assert_nothing_stored(media_root)


# -- size limit ---------------------------------------------------------------------


@pytest.fixture
def small_limit(settings):
    settings.UPLOAD_MAX_BYTES = 1000
    return 1000


def test_a_file_of_exactly_the_limit_is_accepted(member_client, media_root, small_limit):
    content = text_of_size(small_limit)

    response = post_file(member_client, "limit.txt", content)

    assert response.status_code == 201, response.content
    assert response.json()["size"] == small_limit
    assert_stored(response.json(), content, media_root)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("limit.txt", text_of_size(1001)),
        ("limit.png", png_bytes() + b"\x00" * (1001 - len(png_bytes()))),
    ],
)
def test_a_file_one_byte_over_the_limit_is_413(
    member_client, media_root, small_limit, name, content
):
    assert len(content) == small_limit + 1

    response = post_file(member_client, name, content)

    assert_error(response, 413, "payload_too_large")
    assert_nothing_stored(media_root)


def test_the_limit_is_read_from_settings_per_request(member_client, media_root, settings):
    content = text_of_size(1500)
    settings.UPLOAD_MAX_BYTES = 1499
    assert_error(post_file(member_client, "a.txt", content), 413, "payload_too_large")

    settings.UPLOAD_MAX_BYTES = 1500

    assert post_file(member_client, "a.txt", content).status_code == 201


@pytest.fixture
def input_bytes_read(monkeypatch):
    """How many bytes of the request body the server read (the test client's
    wsgi.input, by read() or readline()), summed over the test."""
    from django.test import client as test_client

    counter = {"read": 0}

    def counting(real):
        def method(self, *args, **kwargs):
            data = real(self, *args, **kwargs)
            counter["read"] += len(data)
            return data

        return method

    for name in ("read", "readline"):
        real = getattr(test_client.FakePayload, name)
        monkeypatch.setattr(test_client.FakePayload, name, counting(real))
    return counter


@pytest.fixture
def bytes_seen_by_the_limit_handler(monkeypatch):
    """How many file bytes were offered to the size limit handler itself."""
    counter = {"received": 0}
    real = SizeLimitUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        counter["received"] += len(raw_data)
        return real(self, raw_data, start)

    monkeypatch.setattr(SizeLimitUploadHandler, "receive_data_chunk", counting)
    return counter


@pytest.fixture
def bytes_past_the_limit_handler(monkeypatch):
    """How many file bytes reached the handlers after the size limit (the ones that
    keep the data in memory or in a temporary file)."""
    counter = {"received": 0}
    real = uploadhandler.MemoryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        counter["received"] += len(raw_data)
        return real(self, raw_data, start)

    monkeypatch.setattr(uploadhandler.MemoryFileUploadHandler, "receive_data_chunk", counting)
    return counter


def test_a_body_declared_far_over_the_limit_is_refused_before_any_of_it_is_read(
    member_client, media_root, small_limit, input_bytes_read, bytes_past_the_limit_handler
):
    content = text_of_size(2 * 1024 * 1024)

    response = post_file(member_client, "big.txt", content)

    assert_error(response, 413, "payload_too_large")
    assert input_bytes_read["read"] == 0
    assert bytes_past_the_limit_handler["received"] == 0
    assert_nothing_stored(media_root)


def test_an_oversized_file_within_the_declared_slack_stops_streaming_at_the_limit(
    member_client,
    media_root,
    settings,
    monkeypatch,
    input_bytes_read,
    bytes_seen_by_the_limit_handler,
    bytes_past_the_limit_handler,
):
    # Chunks of 4 KiB instead of 64 KiB make "stopped early" visible on a small body:
    # the file is 44 KiB over a 16 KiB limit, within the 64 KiB allowed for framing.
    monkeypatch.setattr(SizeLimitUploadHandler, "chunk_size", 4096)
    settings.UPLOAD_MAX_BYTES = 16 * 1024
    content = text_of_size(60 * 1024)

    response = post_file(member_client, "big.txt", content)

    assert_error(response, 413, "payload_too_large")
    # The handler stops at the first chunk past the limit; the handlers that keep
    # data (memory, temporary file) never get more than the limit.
    assert 0 < bytes_seen_by_the_limit_handler["received"] <= settings.UPLOAD_MAX_BYTES + 4096
    assert 0 < bytes_past_the_limit_handler["received"] <= settings.UPLOAD_MAX_BYTES
    # What is left of the body may be read and dropped, never more than was declared.
    assert input_bytes_read["read"] <= int(response.wsgi_request.META["CONTENT_LENGTH"])
    assert_nothing_stored(media_root)


def test_a_file_near_the_default_limit_is_accepted_and_one_byte_more_is_not_held(
    member_client, media_root, settings, bytes_past_the_limit_handler
):
    limit = settings.UPLOAD_MAX_BYTES
    assert limit >= 1024 * 1024  # the configured limit, not a test one
    content = text_of_size(limit)

    accepted = post_file(member_client, "big.txt", content)

    assert accepted.status_code == 201, accepted.content
    assert_stored(accepted.json(), content, media_root)
    assert bytes_past_the_limit_handler["received"] == limit
    bytes_past_the_limit_handler["received"] = 0

    refused = post_file(member_client, "bigger.txt", content + b"x")

    assert_error(refused, 413, "payload_too_large")
    assert 0 < bytes_past_the_limit_handler["received"] <= limit
    assert File.objects.count() == 1


@pytest.fixture
def upload_temp_dir(settings, tmp_path):
    """Where uploads past FILE_UPLOAD_MAX_MEMORY_SIZE are spooled while they stream in."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def no_garbage_collection():
    """Only reference counting frees objects while the test runs: a temporary file
    left open in a reference cycle stays visible instead of vanishing by chance."""
    gc.disable()
    yield
    gc.enable()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.parametrize("over", [0, 1], ids=["at the limit", "one byte over"])
def test_an_upload_spooled_to_a_temporary_file_leaves_none_behind(
    member_client, media_root, settings, upload_temp_dir, no_garbage_collection, over
):
    settings.UPLOAD_MAX_BYTES = settings.FILE_UPLOAD_MAX_MEMORY_SIZE + 512 * 1024
    content = text_of_size(settings.UPLOAD_MAX_BYTES + over)

    response = post_file(member_client, "spooled.txt", content)

    assert response.status_code == (413 if over else 201), response.content
    assert list(upload_temp_dir.iterdir()) == []


# -- names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        pytest.param("../../etc/passwd.txt", "passwd.txt", id="dot-dot slash"),
        pytest.param("/etc/cron.d/job.txt", "job.txt", id="absolute path"),
        pytest.param("..\\..\\windows\\win.ini.txt", "win.ini.txt", id="backslashes"),
        pytest.param("C:\\Users\\mia\\notes.txt", "notes.txt", id="windows path"),
        pytest.param("dir/sub\\mixed.txt", "mixed.txt", id="mixed separators"),
        pytest.param("a\x00b.txt", "ab.txt", id="nul"),
        pytest.param("tab\there\x07.txt", "tabhere.txt", id="tab and bell"),
        pytest.param("esc\x1b[31mred.txt", "esc[31mred.txt", id="escape"),
        pytest.param("del\x7f.txt", "del.txt", id="delete"),
        pytest.param("evil\u202etxt.exe.txt", "eviltxt.exe.txt", id="right-to-left override"),
        pytest.param("zero\u200bwidth.txt", "zerowidth.txt", id="zero width space"),
        pytest.param("  spaced name.txt  ", "spaced name.txt", id="surrounding spaces"),
        pytest.param("Grüße.txt", "Grüße.txt", id="german"),
        pytest.param("отчёт 2024.txt", "отчёт 2024.txt", id="cyrillic"),
        pytest.param("日本語のメモ.txt", "日本語のメモ.txt", id="japanese"),
        pytest.param("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt", id="nfd to nfc"),
        pytest.param("emoji 🎉.txt", "emoji 🎉.txt", id="emoji"),
        pytest.param('say "hi".txt', 'say "hi".txt', id="double quotes"),
    ],
)
def test_the_name_is_the_sanitised_basename(member_client, media_root, tmp_path, sent, kept):
    content = text_bytes()

    response = post_file(member_client, sent, content)

    assert response.status_code == 201, response.content
    name = response.json()["name"]
    assert name == kept
    assert unicodedata.is_normalized("NFC", name)
    assert File.objects.get().name == kept
    # Stored inside MEDIA_ROOT only, under a name that owes nothing to the one sent.
    row = assert_stored(response.json(), content, media_root)
    assert {p for p in tmp_path.rglob("*") if p.is_file()} == {media_root / row.storage_name}


def test_a_very_long_name_is_cut_to_255_characters_keeping_the_extension(member_client, media_root):
    response = post_file(member_client, "a" * 300 + ".pdf", pdf_bytes())

    assert response.status_code == 201, response.content
    name = response.json()["name"]
    assert len(name) == 255
    assert name == "a" * 251 + ".pdf"
    assert response.json()["content_type"] == "application/pdf"


def test_a_very_long_non_ascii_name_is_cut_by_characters_not_bytes(member_client, media_root):
    response = post_file(member_client, "ж" * 400 + ".docx", docx_bytes())

    assert response.status_code == 201, response.content
    name = response.json()["name"]
    assert name == "ж" * 250 + ".docx"
    assert File.objects.get().name == name


def test_a_name_of_exactly_255_characters_is_kept_whole(member_client, media_root):
    sent = "b" * 251 + ".txt"

    response = post_file(member_client, sent, text_bytes())

    assert response.status_code == 201, response.content
    assert response.json()["name"] == sent


def test_the_storage_name_is_random_under_uploads_and_unrelated_to_the_name(
    member_client, media_root
):
    first = upload(member_client, "pdf", name="quarterly-report.pdf")
    second = upload(member_client, "pdf", name="quarterly-report.pdf")

    rows = [File.objects.get(pk=first["id"]), File.objects.get(pk=second["id"])]
    names = [row.storage_name for row in rows]
    assert names[0] != names[1]
    for storage_name in names:
        assert storage_name.startswith("uploads/")
        assert "quarterly" not in storage_name
        assert "report" not in storage_name
        assert not storage_name.endswith(".pdf")
        assert ".." not in storage_name
        assert (media_root / storage_name).read_bytes() == pdf_bytes()
    assert media_files(media_root) == {media_root / name for name in names}
    assert "storage_name" not in first
    assert all(storage_name not in str(first) for storage_name in names)


def test_sha256_and_size_describe_the_exact_bytes(member_client, media_root):
    content = text_of_size(70_000) + "ünïcödé\n".encode()

    response = post_file(member_client, "long.txt", content)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["size"] == len(content) == 70_000 + len("ünïcödé\n".encode())
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert_stored(body, content, media_root)


# -- task attachments ---------------------------------------------------------------


def test_a_file_attached_to_an_own_task_records_the_task(member_client, task, media_root):
    response = post_file(member_client, "plan.pdf", pdf_bytes(), task=task)

    assert response.status_code == 201, response.content
    assert response.json()["task"] == task.pk
    assert File.objects.get().task_id == task.pk


def test_a_file_attached_to_a_task_assigned_to_the_user_is_accepted(
    member_client, member, other_member, media_root
):
    assigned = TaskFactory(owner=other_member, assignee=member)

    response = post_file(member_client, "plan.pdf", pdf_bytes(), task=assigned)

    assert response.status_code == 201, response.content
    assert response.json()["task"] == assigned.pk


@pytest.mark.parametrize("client_name", ["manager_client", "admin_client"])
def test_a_manager_or_admin_attaches_to_a_task_they_can_see(
    request, client_name, others_task, media_root
):
    client = request.getfixturevalue(client_name)

    response = post_file(client, "plan.pdf", pdf_bytes(), task=others_task)

    assert response.status_code == 201, response.content
    assert response.json()["task"] == others_task.pk
    assert File.objects.get().task_id == others_task.pk


def test_attaching_to_another_members_task_is_404_and_stores_nothing(
    member_client, others_task, media_root
):
    response = post_file(member_client, "plan.pdf", pdf_bytes(), task=others_task)

    assert_error(response, 404, "not_found")
    assert_nothing_stored(media_root)


def test_attaching_to_a_task_that_does_not_exist_is_404_and_stores_nothing(
    member_client, task, media_root
):
    response = post_file(member_client, "plan.pdf", pdf_bytes(), task=task.pk + 1000)

    assert_error(response, 404, "not_found")
    assert_nothing_stored(media_root)


@pytest.mark.parametrize("value", ["abc", "1.5", "[1]"])
def test_a_task_that_is_not_an_integer_is_a_validation_error_on_task(
    member_client, media_root, value
):
    response = post_file(member_client, "plan.pdf", pdf_bytes(), task=value)

    assert_field_error(response, "task")
    assert_nothing_stored(media_root)


def test_a_wrong_file_for_a_visible_task_is_415_and_stores_nothing(member_client, task, media_root):
    response = post_file(member_client, "plan.pdf", png_bytes(), task=task)

    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(media_root)


def test_a_refused_upload_leaves_earlier_files_in_place(member_client, media_root, others_task):
    kept = upload(member_client, "png")
    before = media_files(media_root)

    refusals = [
        post_file(member_client, "x.png", text_bytes()),
        post_file(member_client, "x.exe", b"MZ"),
        post_file(member_client, "x.txt", b""),
        post_file(member_client, "x.pdf", pdf_bytes(), task=others_task),
    ]

    assert [r.status_code for r in refusals] == [415, 415, 400, 404]
    assert list(File.objects.values_list("pk", flat=True)) == [kept["id"]]
    assert media_files(media_root) == before
