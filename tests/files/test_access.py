"""Who lists, reads, downloads and deletes which file; the download response; stored
bytes removed after commit (also with the task they are attached to); throttles.

A member sees their own files only; anything else is 404, never 403. Admins see and
delete every file; managers, like members, only their own.
"""

import hashlib
import re
from urllib.parse import unquote

import pytest

from files.models import File
from tests.files.helpers import media_files
from tests.files.samples import (
    DOCX_TYPE,
    SAMPLES,
    pdf_bytes,
    png_bytes,
    sample,
    text_bytes,
    text_of_size,
)
from tests.helpers import (
    FILE_SHAPE,
    FILES_URL,
    assert_error,
    download_url,
    file_url,
    page,
    post_file,
    result_ids,
    task_url,
    upload,
)

pytestmark = pytest.mark.django_db

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def stored_path(media_root, body):
    return media_root / File.objects.get(pk=body["id"]).storage_name


def downloaded(response) -> bytes:
    """The streamed body of a 200 download. Reading it to the end closes the response
    (and its file), as a WSGI server would; closing it again would fire a second
    request_finished and drop the test's database connection."""
    assert response.status_code == 200, getattr(response, "content", response)
    assert response.streaming is True
    return b"".join(response.streaming_content)


# RFC 6266 section 4.1: disposition-type *( ";" disposition-parm ), a parameter being
# a token or a quoted-string (with backslash escapes).
DISPOSITION_PARAM = re.compile(
    r';\s*([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)\s*'
)


def disposition(response) -> tuple[str, dict[str, str]]:
    """Content-Disposition parsed as RFC 6266 says: (type, {"filename": what a client
    shows (filename* when present, else filename), "ascii": the filename parameter,
    "star": the decoded filename*, "raw": the header})."""
    header = response["Content-Disposition"]
    assert header.isascii(), header
    kind, _, rest = header.partition(";")
    params = {}
    position = 0
    rest = ";" + rest if rest else ""
    while position < len(rest):
        match = DISPOSITION_PARAM.match(rest, position)
        assert match, (header, rest[position:])
        name, value = match.group(1).lower(), match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        assert name not in params, f"{name} twice in {header}"
        params[name] = value
        position = match.end()
    star = None
    if "filename*" in params:
        charset, _language, encoded = params["filename*"].split("'", 2)
        assert charset.lower() == "utf-8", header
        star = unquote(encoded, encoding="utf-8", errors="strict")
    return kind.strip().lower(), {
        "filename": star if star is not None else params.get("filename"),
        "ascii": params.get("filename"),
        "star": star,
        "raw": header,
    }


@pytest.fixture
def own_files(member_client):
    """Mia's PNG and PDF (the PDF is newer)."""
    return [upload(member_client, "png"), upload(member_client, "pdf")]


@pytest.fixture
def others_file(other_member_client):
    return upload(other_member_client, "txt", name="otto.txt")


@pytest.fixture
def managers_file(manager_client):
    return upload(manager_client, "gif", name="manon.gif")


# -- list ---------------------------------------------------------------------------


def test_a_member_lists_only_their_own_files_newest_first(
    member_client, own_files, others_file, managers_file
):
    body = page(member_client.get(FILES_URL))

    assert body["count"] == 2
    assert [item["id"] for item in body["results"]] == [own_files[1]["id"], own_files[0]["id"]]
    assert body["results"][0] == own_files[1]
    assert all(set(item) == FILE_SHAPE for item in body["results"])


def test_a_manager_lists_only_their_own_files(manager_client, own_files, managers_file):
    assert result_ids(manager_client.get(FILES_URL)) == [managers_file["id"]]


def test_an_admin_lists_every_file_newest_first(
    admin_client, own_files, others_file, managers_file
):
    ids = result_ids(admin_client.get(FILES_URL))

    assert ids == [managers_file["id"], others_file["id"], own_files[1]["id"], own_files[0]["id"]]


def test_a_member_without_files_gets_an_empty_page(client_for, own_files):
    from tests.factories import UserFactory

    response = client_for(UserFactory()).get(FILES_URL)

    assert page(response) == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_task_filter_lists_a_tasks_attachments(member_client, task, own_files):
    attached = [
        upload(member_client, "pdf", task=task),
        upload(member_client, "docx", task=task),
    ]

    ids = result_ids(member_client.get(FILES_URL, {"task": task.pk}))

    assert ids == [attached[1]["id"], attached[0]["id"]]
    assert len(result_ids(member_client.get(FILES_URL))) == 4


def test_the_task_filter_shows_every_attachment_of_a_task_to_whoever_sees_the_task(
    member_client, other_member_client, manager_client, admin_client, task, media_root
):
    mine = upload(member_client, "pdf", task=task)
    managers = upload(manager_client, "png", task=task)
    both = [managers["id"], mine["id"]]

    # Attachments follow their task (DESIGN.md, projects): who sees it sees its files.
    assert result_ids(member_client.get(FILES_URL, {"task": task.pk})) == both
    assert result_ids(other_member_client.get(FILES_URL, {"task": task.pk})) == []
    assert result_ids(manager_client.get(FILES_URL, {"task": task.pk})) == both
    assert result_ids(admin_client.get(FILES_URL, {"task": task.pk})) == both


def test_the_task_filter_for_a_task_without_files_is_empty(member_client, task, own_files):
    assert result_ids(member_client.get(FILES_URL, {"task": task.pk})) == []


def test_a_lists_filter_is_an_unknown_parameter_of_one_file(member_client, media_root):
    # Filters are for the list: a file is found by its id alone, and `task` is no
    # parameter of it (taskmanager.query_parameters).
    uploaded = upload(member_client, "pdf")

    response = member_client.get(file_url(uploaded["id"]), {"task": 999_999})

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"task": ["Unknown query parameter."]}


def test_the_list_is_paginated(member_client, media_root):
    ids = [upload(member_client, "txt", name=f"n{i}.txt")["id"] for i in range(3)]

    body = page(member_client.get(FILES_URL, {"limit": 2}))

    assert body["count"] == 3
    assert [item["id"] for item in body["results"]] == ids[::-1][:2]
    assert body["next"]
    assert body["previous"] is None


# -- retrieve -----------------------------------------------------------------------


def test_the_owner_retrieves_the_same_shape_as_the_upload_returned(member_client, own_files):
    response = member_client.get(file_url(own_files[0]))

    assert response.status_code == 200, response.content
    assert response.json() == own_files[0]


def test_an_admin_retrieves_any_file(admin_client, others_file):
    response = admin_client.get(file_url(others_file))

    assert response.status_code == 200, response.content
    assert response.json()["id"] == others_file["id"]
    assert response.json()["download_url"] == others_file["download_url"]


@pytest.mark.parametrize("client_name", ["other_member_client", "manager_client"])
@pytest.mark.parametrize("view", [file_url, download_url])
def test_another_member_or_a_manager_gets_404_for_someone_elses_file(
    request, client_name, view, own_files
):
    client = request.getfixturevalue(client_name)

    assert_error(client.get(view(own_files[0])), 404, "not_found")


@pytest.mark.parametrize("view", [file_url, download_url])
def test_a_file_that_does_not_exist_is_404(member_client, own_files, view):
    assert_error(member_client.get(view(own_files[1]["id"] + 1000)), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", lambda f: FILES_URL),
        ("get", file_url),
        ("get", download_url),
        ("delete", file_url),
    ],
)
def test_anonymous_requests_are_401(api_client, own_files, media_root, method, url):
    response = getattr(api_client, method)(url(own_files[0]))

    assert_error(response, 401, "not_authenticated")
    assert File.objects.count() == 2
    assert stored_path(media_root, own_files[0]).is_file()


# -- download -----------------------------------------------------------------------


@pytest.mark.parametrize("extension", sorted(SAMPLES))
def test_the_owner_downloads_the_exact_bytes_streamed_with_safe_headers(
    member_client, media_root, extension
):
    content = sample(extension)
    body = upload(member_client, extension, name=f"report.{extension}")

    response = member_client.get(download_url(body))

    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"] == SAMPLES[extension][1]
    assert response["Content-Length"] == str(len(content))
    assert response["X-Content-Type-Options"] == "nosniff"
    directives = {part.strip().lower() for part in response["Cache-Control"].split(",")}
    assert directives == {"private", "no-store"}
    kind, names = disposition(response)
    assert kind == "attachment"
    assert names["filename"] == f"report.{extension}"
    assert names["raw"] == f'attachment; filename="report.{extension}"'
    data = downloaded(response)
    assert data == content
    assert hashlib.sha256(data).hexdigest() == body["sha256"]


def test_the_download_url_in_the_body_is_the_download_endpoint(member_client, own_files):
    url = own_files[0]["download_url"]
    assert url.startswith("http://testserver/")

    response = member_client.get(url.removeprefix("http://testserver"))

    assert downloaded(response) == png_bytes()


@pytest.mark.parametrize("name", ["Grüße résumé.pdf", "отчёт.pdf", "日本語.pdf", "emoji 🎉.pdf"])
def test_a_non_ascii_name_is_sent_as_filename_star_with_an_ascii_fallback(
    member_client, media_root, name
):
    body = upload(member_client, "pdf", name=name)
    assert body["name"] == name

    response = member_client.get(download_url(body))

    kind, names = disposition(response)
    assert kind == "attachment"
    assert names["star"] == name
    assert names["filename"] == name
    # The fallback for clients that ignore filename*: present, quoted ASCII.
    assert names["ascii"]
    assert names["ascii"].isascii()
    assert names["ascii"].isprintable()
    assert downloaded(response) == pdf_bytes()


@pytest.mark.parametrize("name", ["100% sure; really.pdf", 'say "hi".pdf', "a,b=c.pdf"])
def test_an_ascii_name_with_separators_reaches_the_client_intact(member_client, media_root, name):
    body = upload(member_client, "pdf", name=name)
    assert body["name"] == name

    response = member_client.get(download_url(body))

    kind, names = disposition(response)
    assert kind == "attachment"
    assert names["filename"] == name
    assert downloaded(response) == pdf_bytes()


def test_a_large_download_is_streamed_in_pieces(member_client, media_root, settings):
    content = text_of_size(3 * 1024 * 1024)
    uploaded = post_file(member_client, "big.txt", content)
    assert uploaded.status_code == 201, uploaded.content

    response = member_client.get(download_url(uploaded.json()))

    assert response.streaming is True
    assert response["Content-Length"] == str(len(content))
    pieces = list(response.streaming_content)
    assert len(pieces) > 1
    assert max(len(piece) for piece in pieces) < len(content)
    assert b"".join(pieces) == content


def test_an_admin_downloads_any_file(admin_client, others_file):
    response = admin_client.get(download_url(others_file))

    assert downloaded(response) == text_bytes()


def test_a_download_of_a_docx_is_served_as_its_stored_type_not_sniffed(member_client, media_root):
    body = upload(member_client, "docx")

    response = member_client.get(download_url(body))

    assert response["Content-Type"] == DOCX_TYPE
    assert response["X-Content-Type-Options"] == "nosniff"
    downloaded(response)


@pytest.mark.parametrize(
    "accept", ["application/pdf", "application/octet-stream", "application/pdf, */*;q=0.1"]
)
def test_a_download_asking_for_the_files_type_or_any_binary_type_is_served(
    member_client, media_root, accept
):
    # curl -H "Accept: application/octet-stream", HTTP libraries asking for the type
    # the schema names: DRF's negotiation knew only its JSON and HTML renderers (406).
    body = upload(member_client, "pdf")

    response = member_client.get(download_url(body), HTTP_ACCEPT=accept)

    assert response["Content-Type"] == "application/pdf"
    assert downloaded(response) == pdf_bytes()


def test_a_download_error_for_a_binary_accept_header_is_still_the_json_error_shape(
    member_client, others_file
):
    response = member_client.get(download_url(others_file), HTTP_ACCEPT="application/pdf")

    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        # NFKD turns the fullwidth solidus and full stop into "/" and ".": the stored
        # name has no path in it, so neither may the name old clients save under.
        ("\uff0e\uff0e\uff0fetc\uff0fpasswd.txt", "_etc_passwd.txt"),
        ("\uff0ebashrc.txt", "bashrc.txt"),
        ("\u2024\u2024notes.txt", "notes.txt"),
        # Nothing of the stem is ASCII: keep the extension rather than ".pdf".
        ("日本語.pdf", "download.pdf"),
    ],
)
def test_the_ascii_fallback_name_has_no_path_separators_or_leading_dots(
    member_client, media_root, name, fallback
):
    content = pdf_bytes() if name.endswith(".pdf") else text_bytes()
    uploaded = post_file(member_client, name, content)
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["name"] == name

    response = member_client.get(download_url(uploaded.json()))

    kind, names = disposition(response)
    assert kind == "attachment"
    assert names["star"] == name
    assert names["ascii"] == fallback
    assert downloaded(response) == content


# -- delete -------------------------------------------------------------------------


def test_the_owner_deletes_a_file_and_its_stored_bytes_go_after_commit(
    member_client, own_files, media_root, django_capture_on_commit_callbacks
):
    path = stored_path(media_root, own_files[0])
    other_path = stored_path(media_root, own_files[1])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = member_client.delete(file_url(own_files[0]))

    assert response.status_code == 204, response.content
    assert not File.objects.filter(pk=own_files[0]["id"]).exists()
    assert path.is_file()  # nothing removed before the commit
    for callback in callbacks:
        callback()
    assert not path.exists()
    assert other_path.read_bytes() == pdf_bytes()
    assert_error(member_client.get(file_url(own_files[0])), 404, "not_found")
    assert_error(member_client.get(download_url(own_files[0])), 404, "not_found")


def test_a_manager_deletes_their_own_file(manager_client, managers_file, media_root, committed):
    path = stored_path(media_root, managers_file)

    with committed():
        response = manager_client.delete(file_url(managers_file))

    assert response.status_code == 204, response.content
    assert not File.objects.filter(pk=managers_file["id"]).exists()
    assert not path.exists()


def test_an_admin_deletes_any_file(admin_client, others_file, media_root, committed):
    path = stored_path(media_root, others_file)

    with committed():
        response = admin_client.delete(file_url(others_file))

    assert response.status_code == 204, response.content
    assert not File.objects.filter(pk=others_file["id"]).exists()
    assert not path.exists()
    assert media_files(media_root) == set()


@pytest.mark.parametrize("client_name", ["other_member_client", "manager_client"])
def test_another_member_or_a_manager_cannot_delete_someone_elses_file(
    request, client_name, own_files, media_root, committed
):
    client = request.getfixturevalue(client_name)
    path = stored_path(media_root, own_files[0])

    with committed():
        response = client.delete(file_url(own_files[0]))

    assert_error(response, 404, "not_found")
    assert File.objects.filter(pk=own_files[0]["id"]).exists()
    assert path.read_bytes() == png_bytes()


def test_deleting_a_file_twice_is_404_the_second_time(member_client, own_files, committed):
    with committed():
        assert member_client.delete(file_url(own_files[0])).status_code == 204

    assert_error(member_client.delete(file_url(own_files[0])), 404, "not_found")


def test_deleting_a_task_deletes_its_attachments_and_their_stored_bytes(
    member_client, manager_client, task, others_task, media_root, committed
):
    attached = [
        upload(member_client, "pdf", task=task),
        upload(manager_client, "png", task=task),
    ]
    loose = upload(member_client, "txt")
    elsewhere = upload(manager_client, "gif", task=others_task)
    attached_paths = [stored_path(media_root, body) for body in attached]
    kept_paths = [stored_path(media_root, body) for body in (loose, elsewhere)]

    with committed():
        response = member_client.delete(task_url(task))

    assert response.status_code == 204, response.content
    assert not File.objects.filter(pk__in=[body["id"] for body in attached]).exists()
    assert all(not path.exists() for path in attached_paths)
    assert set(File.objects.values_list("pk", flat=True)) == {loose["id"], elsewhere["id"]}
    assert media_files(media_root) == set(kept_paths)


def test_a_deleted_tasks_attachments_leave_storage_only_once_the_deletion_commits(
    member_client, task, media_root, django_capture_on_commit_callbacks
):
    body = upload(member_client, "pdf", task=task)
    path = stored_path(media_root, body)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = member_client.delete(task_url(task))

    assert response.status_code == 204, response.content
    assert not File.objects.filter(pk=body["id"]).exists()
    assert path.is_file()  # a rollback would still find its bytes
    for callback in callbacks:
        callback()
    assert not path.exists()


def test_a_task_deletion_that_is_refused_keeps_its_attachments(
    other_member_client, task, member_client, media_root, committed
):
    body = upload(member_client, "pdf", task=task)
    path = stored_path(media_root, body)

    with committed():
        response = other_member_client.delete(task_url(task))

    assert response.status_code == 404, response.content
    assert File.objects.filter(pk=body["id"]).exists()
    assert path.is_file()


# -- throttles ----------------------------------------------------------------------


@pytest.fixture
def rates(settings):
    """`rates(read=..., write=...)` sets per-minute rates for this test."""

    def _rates(read: int = 1000, write: int = 1000) -> None:
        settings.THROTTLE_RATES = {
            **settings.THROTTLE_RATES,
            "read": f"{read}/min",
            "write": f"{write}/min",
        }

    return _rates


def assert_throttled(response) -> None:
    assert_error(response, 429, "throttled")
    assert response["Retry-After"].isdigit()


def test_uploads_count_as_writes_and_the_third_of_two_a_minute_is_429(
    member_client, media_root, rates
):
    rates(write=2)

    responses = [post_file(member_client, f"n{i}.txt", text_bytes()) for i in range(3)]

    assert [r.status_code for r in responses[:2]] == [201, 201]
    for response in responses[:2]:
        assert all(header in response for header in RATE_HEADERS)
    assert [r["X-RateLimit-Remaining"] for r in responses[:2]] == ["1", "0"]
    assert responses[0]["X-RateLimit-Limit"] == "2"
    assert_throttled(responses[2])
    assert File.objects.count() == 2
    assert len(media_files(media_root)) == 2


def test_an_upload_does_not_count_as_a_read(member_client, media_root, rates):
    rates(read=1, write=100)

    uploads = [post_file(member_client, f"n{i}.txt", text_bytes()) for i in range(3)]

    assert [r.status_code for r in uploads] == [201, 201, 201]
    assert member_client.get(FILES_URL).status_code == 200


def test_a_delete_counts_as_a_write(member_client, media_root, rates, committed):
    rates(write=2)
    body = upload(member_client, "txt")

    with committed():
        deleted = member_client.delete(file_url(body))
    third = post_file(member_client, "again.txt", text_bytes())

    assert deleted.status_code == 204, deleted.content
    assert_throttled(third)
    assert File.objects.count() == 0


def test_downloads_count_as_reads(member_client, media_root, rates):
    rates(read=2)
    body = upload(member_client, "png")

    first = member_client.get(download_url(body))
    downloaded(first)
    second = member_client.get(file_url(body))
    third = member_client.get(download_url(body))

    assert first.status_code == 200
    assert first["X-RateLimit-Limit"] == "2"
    assert first["X-RateLimit-Remaining"] == "1"
    assert second.status_code == 200
    assert_throttled(third)
    # Writes have their own allowance.
    assert post_file(member_client, "n.txt", text_bytes()).status_code == 201
