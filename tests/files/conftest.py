"""Storage on a temporary folder per test, generous throttles, tasks to attach files
to, and helpers for the files API.

The role fixtures come from the accounts suite (re-declared by importing them).
Helpers are imported by the test modules: `from tests.files.conftest import ...`;
sample bytes come from `tests.files.samples`.

Who is who:
    member ("mia")          owns `task`
    other_member ("otto")   owns `others_task` (Mia cannot see it)
    manager ("manon")       sees every task; own files only
    admin ("ada")           sees and deletes every file
"""

import posixpath
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from accounts.models import User
from tests.accounts.conftest import (  # noqa: F401
    _fast_password_hashing,
    admin,
    admin_client,
    assert_error,
    assert_field_error,
    client_for,
    committed,
    login,
    manager,
    manager_client,
    member,
    member_client,
    other_member,
    other_member_client,
)
from tests.factories import TaskFactory
from tests.files.samples import multipart, sample

FILES_URL = "/api/v1/files/"
FILE_SHAPE = {"id", "name", "size", "content_type", "sha256", "task", "created_at", "download_url"}
PAGE_SHAPE = {"count", "next", "previous", "results"}
UPLOADS_PREFIX = "uploads/"


def file_url(file_or_id: Any) -> str:
    pk = file_or_id["id"] if isinstance(file_or_id, dict) else getattr(file_or_id, "pk", file_or_id)
    return f"{FILES_URL}{pk}/"


def download_url(file_or_id: Any) -> str:
    return f"{file_url(file_or_id)}download/"


def post_file(
    client: Any,
    name: str,
    content: bytes,
    content_type: str = "application/octet-stream",
    *,
    task: Any = None,
    fields: dict[str, str] | None = None,
    field: str = "file",
    **extra: Any,
) -> Any:
    """POST files/ with a hand-built multipart body (the filename is sent as given).

    `task` is a Task, an id or a raw string; `fields` adds other form fields;
    `extra` goes to the request (headers as HTTP_..., CONTENT_LENGTH, ...).
    """
    form = dict(fields or {})
    if task is not None:
        form["task"] = str(getattr(task, "pk", task))
    body, multipart_type = multipart({field: (name, content, content_type)}, form)
    return client.generic("POST", FILES_URL, body, content_type=multipart_type, **extra)


def upload(client: Any, extension: str = "png", name: str | None = None, **kwargs: Any) -> dict:
    """Upload a real sample through the API; asserts 201 and returns the body."""
    response = post_file(client, name or f"sample.{extension}", sample(extension), **kwargs)
    assert response.status_code == 201, response.content
    return response.json()


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


def page(response: Any) -> dict[str, Any]:
    """The body of a 200 paginated response."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == PAGE_SHAPE, body
    return body


def result_ids(response: Any) -> list[int]:
    return [item["id"] for item in page(response)["results"]]


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    """MEDIA_ROOT and the default storage on a fresh folder for each test."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    # Tests send more requests than a minute's default allowance; throttle tests set
    # their own small rates on top of these.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}


@pytest.fixture
def task(member: User) -> Any:  # noqa: F811
    """Mia's own task."""
    return TaskFactory(owner=member, title="Mia's task")


@pytest.fixture
def others_task(other_member: User) -> Any:  # noqa: F811
    """Otto's task, assigned to nobody: Mia cannot see it."""
    return TaskFactory(owner=other_member, title="Otto's private task")
