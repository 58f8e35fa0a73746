"""Memory of the CSV export (`GET /api/v1/tasks/export.csv`) over many rows: is it
flat? Creates N tasks (default 100,000) with labels in a throw-away database, streams
the export through Django's WSGI handler (the test client, the whole middleware
stack) and reports the time, the size, the number of chunks, the peak RSS growth
while streaming and the tracemalloc peak (a second pass: tracing slows it down).

    .venv/bin/python bench/export_memory.py [--tasks N] [--postgres]

SQLite by default (a file in a temporary folder, deleted after); `--postgres` makes
a database `export_memory_<random>` on BENCH_PG_SERVER (default
postgres://postgres@127.0.0.1:5432) and drops it after. Not part of the tests.
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

parser = argparse.ArgumentParser()
parser.add_argument("--tasks", type=int, default=100_000)
parser.add_argument("--postgres", action="store_true")
args = parser.parse_args()

workdir = tempfile.TemporaryDirectory(prefix="export-memory-")
pg_server = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
pg_name = f"export_memory_{uuid.uuid4().hex[:8]}"
if args.postgres:
    os.environ["DATABASE_URL"] = f"{pg_server}/{pg_name}"
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir.name}/db.sqlite3"
os.environ.pop("REDIS_URL", None)  # the local-memory cache: nothing shared to clean
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")
os.environ.setdefault("SECRET_KEY", "bench-export-memory-not-a-secret-0123456789abcdef")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["VAR_DIR"] = workdir.name

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.http import StreamingHttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.services import user_register  # noqa: E402
from projects.models import Project  # noqa: E402
from projects.services import label_create  # noqa: E402
from tasks.models import Task  # noqa: E402

PASSWORD = "Correct-horse-battery-9"  # noqa: S105 (a throw-away account)
BATCH = 5000


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def create_database() -> None:
    if not args.postgres:
        return
    import psycopg

    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{pg_name}"')


def drop_database() -> None:
    if not args.postgres:
        return
    import psycopg

    connections.close_all()
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def seed(n: int) -> str:
    """A user with `n` tasks in their personal project, one in three with 1 to 3
    labels and a description; returns the username."""
    name = f"exporter{uuid.uuid4().hex[:6]}"
    user = user_register(username=name, email=f"{name}@example.com", password=PASSWORD)
    project = Project.objects.get(memberships__user=user)
    labels = [
        label_create(actor=user, project_id=project.pk, name=f"Label {i}", color="#00aa00")
        for i in range(3)
    ]
    now = timezone.now()
    through = Task.labels.through
    for start in range(0, n, BATCH):
        tasks = Task.objects.bulk_create(
            Task(
                project_id=project.pk,
                owner_id=user.pk,
                title=f"Task {i} — café ☕",
                description="Some words about the task, " * (i % 3),
                due_date=now if i % 2 else None,
                position=f"p{i:09d}",
                created_at=now,
                updated_at=now,
            )
            for i in range(start, min(n, start + BATCH))
        )
        through.objects.bulk_create(
            through(task_id=task.pk, label_id=label.pk)
            for task in tasks
            if task.pk % 3 == 0
            for label in labels[: 1 + task.pk % 3]
        )
    return name


def export(client: Client, headers: dict[str, str], *, trace: bool) -> dict[str, float]:
    rss_before = rss_bytes()
    rss_peak = rss_before
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    response = cast(StreamingHttpResponse, client.get("/api/v1/tasks/export.csv", headers=headers))
    assert response.status_code == 200, response.status_code
    assert response.streaming
    size = chunks = lines = 0
    for chunk in response:
        size += len(chunk)
        chunks += 1
        lines += chunk.count(b"\r\n")
        rss_peak = max(rss_peak, rss_bytes())
    response.close()
    seconds = time.perf_counter() - started
    figures = {
        "seconds": seconds,
        "bytes": size,
        "chunks": chunks,
        "lines": lines,
        "rss_growth_mib": (rss_peak - rss_before) / 2**20,
    }
    if trace:
        figures["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return figures


def main() -> None:
    create_database()
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        name = seed(args.tasks)
        print(
            f"{connection.vendor}: seeded {args.tasks:,} tasks "
            f"in {time.perf_counter() - started:.1f} s"
        )
        client = Client()
        login = client.post(
            "/api/v1/auth/login/",
            {"username": name, "password": PASSWORD},
            content_type="application/json",
        )
        auth = {"Authorization": f"Bearer {login.json()['access']}"}
        print(f"process RSS before the export: {rss_bytes() / 2**20:.1f} MiB")
        plain = export(client, auth, trace=False)
        print(
            f"export: {plain['lines'] - 1:,.0f} rows, {plain['bytes'] / 2**20:.1f} MiB in "
            f"{plain['chunks']:,.0f} chunks, {plain['seconds']:.1f} s; "
            f"RSS growth while streaming {plain['rss_growth_mib']:.1f} MiB"
        )
        traced = export(client, auth, trace=True)
        print(
            f"traced export: tracemalloc peak {traced['tracemalloc_peak_mib']:.1f} MiB "
            f"({traced['seconds']:.1f} s with tracing)"
        )
        assert plain["lines"] - 1 == args.tasks
    finally:
        drop_database()
        workdir.cleanup()


main()
