"""scripts/backup.sh and scripts/restore.sh against real PostgreSQL databases.

A database is populated through the real application (gunicorn): users, sessions,
tasks and their events, an idempotent create, uploads. It is backed up while the
server runs, then restored into fresh databases and media directories; every row of
every table, every sequence and every stored byte must come back, and a server on
the restored copy must serve it. Damaged backups and non-empty targets are refused.
"""

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from psycopg import sql

from taskmanager.settings import BASE_DIR
from tests.e2e.servers import (
    PASSWORD,
    Server,
    connect,
    migrate,
    postgres_database,
    production_env,
    register_and_login,
    serve,
    shared_project,
)
from tests.files.samples import sample

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = [
    pytest.mark.skipif(
        not DATABASE_URL.startswith("postgres"), reason="needs DATABASE_URL (PostgreSQL)"
    ),
    pytest.mark.skipif(
        not (shutil.which("pg_dump") and shutil.which("pg_restore") and shutil.which("psql")),
        reason="needs pg_dump, pg_restore and psql (postgresql-client)",
    ),
]

SCRIPTS = BASE_DIR / "scripts"
TIMEOUT = 10


@dataclass
class Source:
    """The populated database, its media directory, the backup made of them, and
    what the API answered while populating them."""

    env: dict[str, str]
    media_root: Path
    backup: Path
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)


def run_script(name: str, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def call(server: Server, method: str, path: str, access: str, **kwargs: Any) -> Any:
    return requests.request(
        method,
        f"{server.base_url}{path}",
        headers={"Authorization": f"Bearer {access}", **kwargs.pop("headers", {})},
        timeout=TIMEOUT,
        **kwargs,
    )


def created(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def populate(server: Server, source: Source) -> None:
    alice = source.users["alice"] = register_and_login(server)
    bob = source.users["bob"] = register_and_login(server)
    a = alice["access"]
    together = shared_project(server, alice, bob)

    plan = created(
        call(
            server,
            "POST",
            "/api/v1/tasks/",
            a,
            json={
                "title": "Plan the release",
                "description": "Grüße: notes, ünïcode and all",
                "priority": "high",
                "due_date": "2031-05-04T12:00:00Z",
                "assignee": bob["id"],
                "project": together,
            },
        )
    )
    for change in ({"status": "in_progress"}, {"status": "completed", "title": "Released"}):
        plan = created(call(server, "PATCH", f"/api/v1/tasks/{plan['id']}/", a, json=change), 200)
    source.tasks["plan"] = plan
    doomed = created(call(server, "POST", "/api/v1/tasks/", a, json={"title": "Doomed"}))
    assert call(server, "DELETE", f"/api/v1/tasks/{doomed['id']}/", a).status_code == 204
    source.tasks["idempotent"] = created(
        call(
            server,
            "POST",
            "/api/v1/tasks/",
            a,
            json={"title": "Once"},
            headers={"Idempotency-Key": "backup-key"},
        )
    )
    source.tasks["bobs"] = created(
        call(server, "POST", "/api/v1/tasks/", bob["access"], json={"title": "Bob's"})
    )

    uploads = [
        ("png", alice, "diagram.png", plan["id"]),
        ("txt", alice, "notes.txt", None),
        ("pdf", bob, "report.pdf", source.tasks["bobs"]["id"]),
    ]
    for extension, user, name, task in uploads:
        content = sample(extension)
        response = call(
            server,
            "POST",
            "/api/v1/files/",
            user["access"],
            files={"file": (name, content)},
            data={"task": str(task)} if task else {},
        )
        source.files[name] = (created(response), content)

    # An ended session: bob logs in again and logs that session out.
    second = requests.post(
        f"{server.base_url}/api/v1/auth/login/",
        json={"username": bob["username"], "password": PASSWORD},
        timeout=TIMEOUT,
    ).json()
    assert call(server, "POST", "/api/v1/auth/logout/", second["access"]).status_code == 204
    source.users["bob_logged_out"] = second


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """A populated database, backed up with backup.sh while its server runs."""
    tmp_path = tmp_path_factory.mktemp("backup-source")
    with postgres_database(DATABASE_URL) as database_url:
        media_root = tmp_path / "media"
        env = production_env(
            tmp_path,
            DATABASE_URL=database_url,
            MEDIA_ROOT=str(media_root),
            THROTTLE_LOGIN_RATE="1000/min",
            THROTTLE_WRITE_RATE="1000/min",
        )
        migrate(env)
        result = Source(env=env, media_root=media_root, backup=tmp_path / "backup")
        with serve("gunicorn", env, tmp_path, workers=1) as server:
            populate(server, result)
            backed_up = run_script("backup.sh", result.backup, env=env)
        assert backed_up.returncode == 0, backed_up.stderr
        assert backed_up.stdout.strip() == str(result.backup)
        yield result


def contents(database_url: str) -> dict[str, Any]:
    """Every row of every table (sorted), and every sequence's position."""
    with connect(database_url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        found: dict[str, Any] = {}
        for table in tables:
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            found[table] = sorted(rows.fetchall(), key=repr)
        found["sequences"] = sorted(
            conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            ).fetchall()
        )
    return found


def table_count(database_url: str) -> int:
    with connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    return int(row[0]) if row else 0


def media_digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_same_as_source(source: Source, database_url: str, media_root: Path) -> None:
    original, restored = contents(source.env["DATABASE_URL"]), contents(database_url)
    # Not vacuous: what was populated is there (two users with their personal
    # projects and one shared, four tasks with one deleted, seven task events, four
    # of projects and one of bob's notification (assigned), three files, three
    # sessions of which one ended).
    assert len(original["accounts_user"]) == 2
    assert len(original["projects_project"]) == 3
    assert len(original["tasks_task"]) == 3
    assert len(original["activity_event"]) == 12
    assert len(original["notifications_notification"]) == 1
    assert len(original["files_file"]) == 3
    assert len(original["accounts_usersession"]) == 3
    assert len(original["tasks_idempotencykey"]) == 1
    assert set(restored) == set(original)
    for table in original:
        assert restored[table] == original[table], table

    digests = media_digests(media_root)
    assert digests == media_digests(source.media_root)
    with connect(database_url) as conn:
        stored = conn.execute("SELECT storage_name, sha256, size FROM files_file").fetchall()
    assert len(stored) == 3
    for storage_name, sha256, size in stored:
        assert digests[storage_name] == sha256
        assert (media_root / storage_name).stat().st_size == size


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """An empty database and an absent media directory; the environment naming them."""
    with postgres_database(DATABASE_URL) as database_url:
        media_root = tmp_path / "restored-media"
        env = production_env(
            tmp_path,
            DATABASE_URL=database_url,
            MEDIA_ROOT=str(media_root),
            THROTTLE_LOGIN_RATE="1000/min",
        )
        yield env, media_root


def test_the_manifest_records_the_time_and_the_parts(source: Source):
    lines = (source.backup / "manifest.txt").read_text().splitlines()

    assert lines[0] == "format: taskmanager-backup 1"
    assert any(line.startswith("created_at: 20") and line.endswith("Z") for line in lines)
    for part in ("database.dump", "media.tar.gz"):
        digest = hashlib.sha256((source.backup / part).read_bytes()).hexdigest()
        assert f"sha256: {digest} {part}" in lines
    assert sorted(path.name for path in source.backup.iterdir()) == [
        "database.dump",
        "manifest.txt",
        "media.tar.gz",
    ]


def test_a_restored_backup_holds_every_row_and_file_and_serves_them(source: Source, target):
    env, media_root = target

    restored = run_script("restore.sh", source.backup, env=env)

    assert restored.returncode == 0, restored.stderr
    assert_same_as_source(source, env["DATABASE_URL"], media_root)

    with serve("gunicorn", env, media_root.parent, workers=1) as server:
        # Password hashes came back: alice logs in as before.
        login = requests.post(
            f"{server.base_url}/api/v1/auth/login/",
            json={"username": source.users["alice"]["username"], "password": PASSWORD},
            timeout=TIMEOUT,
        )
        assert login.status_code == 200, login.text
        access = login.json()["access"]
        plan = source.tasks["plan"]
        assert call(server, "GET", f"/api/v1/tasks/{plan['id']}/", access).json() == plan
        history = call(server, "GET", f"/api/v1/tasks/{plan['id']}/events/", access).json()
        assert [event["kind"] for event in history["results"]] == ["created", "updated", "updated"]

        metadata, content = source.files["diagram.png"]
        download = call(server, "GET", f"/api/v1/files/{metadata['id']}/download/", access)
        assert download.status_code == 200
        assert download.content == content
        served = call(server, "GET", f"/api/v1/files/{metadata['id']}/", access).json()
        # The same metadata; only the host in download_url is the new server's.
        assert served == {**metadata, "download_url": served["download_url"]}
        assert served["download_url"].endswith(f"/api/v1/files/{metadata['id']}/download/")

        # Sessions too: tokens issued before the backup still work, or stay ended.
        bob = source.users["bob"]
        assert call(server, "GET", "/api/v1/users/me/", bob["access"]).status_code == 200
        ended = source.users["bob_logged_out"]["access"]
        assert call(server, "GET", "/api/v1/users/me/", ended).status_code == 401
        # The idempotency key came back with its response.
        again = call(
            server,
            "POST",
            "/api/v1/tasks/",
            access,
            json={"title": "Once"},
            headers={"Idempotency-Key": "backup-key"},
        )
        assert created(again) == source.tasks["idempotent"]
        assert again.headers["Idempotent-Replayed"] == "true"
        # Sequences came back: new rows get new ids.
        new = created(call(server, "POST", "/api/v1/tasks/", access, json={"title": "After"}))
        assert new["id"] > max(task["id"] for task in source.tasks.values())


@pytest.mark.parametrize("part", ["database.dump", "media.tar.gz", "manifest.txt"])
def test_restore_refuses_a_tampered_backup_and_changes_nothing(
    source: Source, target, tmp_path: Path, part: str
):
    env, media_root = target
    backup = tmp_path / "tampered"
    shutil.copytree(source.backup, backup)
    path = backup / part
    if part == "manifest.txt":
        text = path.read_text()
        digest = hashlib.sha256((backup / "database.dump").read_bytes()).hexdigest()
        path.write_text(text.replace(digest, digest[::-1]))
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    result = run_script("restore.sh", backup, env=env)

    assert result.returncode != 0
    assert "manifest mismatch" in result.stderr, result.stderr
    assert table_count(env["DATABASE_URL"]) == 0
    assert not media_root.exists()


def test_restore_refuses_a_backup_without_a_manifest(source: Source, target, tmp_path: Path):
    env, _media_root = target
    backup = tmp_path / "no-manifest"
    shutil.copytree(source.backup, backup)
    (backup / "manifest.txt").unlink()

    result = run_script("restore.sh", backup, env=env)

    assert result.returncode != 0
    assert "manifest.txt is missing" in result.stderr, result.stderr
    assert table_count(env["DATABASE_URL"]) == 0


def test_restore_refuses_a_non_empty_database_unless_forced(source: Source, target):
    env, media_root = target
    migrate(env)  # tables, with the migrations' own rows
    before = contents(env["DATABASE_URL"])

    refused = run_script("restore.sh", source.backup, env=env)

    assert refused.returncode != 0
    assert "--force" in refused.stderr, refused.stderr
    assert contents(env["DATABASE_URL"]) == before
    assert not media_root.exists()

    forced = run_script("restore.sh", "--force", source.backup, env=env)

    assert forced.returncode == 0, forced.stderr
    assert_same_as_source(source, env["DATABASE_URL"], media_root)


def test_restore_refuses_a_non_empty_media_directory_unless_forced(source: Source, target):
    env, media_root = target
    media_root.mkdir()
    (media_root / "already-here.txt").write_text("keep me")

    refused = run_script("restore.sh", source.backup, env=env)

    assert refused.returncode != 0
    assert "--force" in refused.stderr, refused.stderr
    assert table_count(env["DATABASE_URL"]) == 0
    assert [path.name for path in media_root.iterdir()] == ["already-here.txt"]

    forced = run_script("restore.sh", "--force", source.backup, env=env)

    assert forced.returncode == 0, forced.stderr
    assert (media_root / "already-here.txt").read_text() == "keep me"
    (media_root / "already-here.txt").unlink()
    assert_same_as_source(source, env["DATABASE_URL"], media_root)


def test_backup_refuses_an_existing_destination_and_explains_its_usage(source: Source):
    result = run_script("backup.sh", source.backup, env=source.env)
    assert result.returncode != 0
    assert "already exists" in result.stderr

    for script in ("backup.sh", "restore.sh"):
        missing = run_script(script, env=source.env)
        assert missing.returncode == 2
        assert missing.stderr.startswith("Usage: scripts/"), missing.stderr
