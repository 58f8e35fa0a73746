"""Issue 25's measured targets: webhook deliveries, the write with webhooks, sync.

As `make bench` does (bench/run.py, whose helpers this imports): a fresh PostgreSQL
database and Redis key prefixes (both removed at the end), the accounts made through
the application's services, the servers started from the repository, the load from
other processes. Three parts:

1. Webhook deliveries/s. A receiver in its own process (asyncio, HTTP/1.1) verifies
   every request with `standardwebhooks.Webhook(secret).verify` and counts the valid
   and invalid ones. 4 webhooks of a shared project point at it. With no worker
   running, a writer process creates 5,000 tasks there through `task_create`; then
   ONE `manage.py db_worker --no-startup-delay` starts, and the time to the last
   delivery is taken (the rate from the first delivery received, which leaves the
   worker's start-up and the dispatch of the backlog out, and from the worker's
   start), with the CPU the worker, the receiver and PostgreSQL used meanwhile.
   Then, the worker still running, a writer creates tasks at a fixed rate (the
   steady state): how long from an event's record to its delivery. After each, the
   database must show every delivery `succeeded` with exactly one attempt logged (a
   204), and the receiver as many valid signatures, no invalid one, no duplicate.
2. A task write with 10 webhooks. gunicorn as `make bench` runs it; wrk with
   bench/wrk/create.lua, 64 connections (`make bench`'s `create`) and 1 connection
   (a write's own latency), with the creator's personal project's 10 webhooks
   inactive (no active webhook anywhere: nothing in the write path sees them) and
   active, the two alternating. No worker runs: its CPU would compete, so the
   `dispatch` tasks the writes queue wait in the task table (counted). Then the
   same write in one process through Django's test client, the sides alternating
   every 100 writes (wall and CPU time, which other load changes least), and the
   cost of the webhooks' part of a write alone (`webhooks.services.on_events`).
3. Sync of 10,000 changes. A member takes a cursor (an empty snapshot), then gets
   10,000 new tasks (`task_create`, one transaction each); a client process pages
   `GET /api/v1/sync/?cursor=` through gunicorn with one `requests.Session`
   (gunicorn's sync workers close each connection: a new one per page), reading
   the RSS of gunicorn's workers (/proc) after each page, and the snapshot (no
   cursor) of the same tasks; rounds of both, the first a warm-up. Memory is flat
   when the last round adds at most FLAT_MB to a worker and, in one process with
   tracemalloc, the Python memory held after the last page is within
   FLAT_TRACED_MB of that after the first. When the endpoint answers 404 (not built
   yet), the part is skipped and says so.

Run: `.venv/bin/python bench/integrations.py` (about 11 minutes on 2 cores; nothing
else should load the machine: the load before and after each part, from `uptime`,
is in the report). BENCH_QUICK=1 is a smoke run (small counts, short loads; its
report goes to bench/out/ and leaves bench/RESULTS.md alone, about 2 minutes).
BENCH_PARTS=webhooks,write,sync runs only those parts; BENCH_SYNC_CHANGES and
BENCH_SYNC_PASSES change part 3's size. Writes bench/integrations.json and its
section of bench/RESULTS.md; exits 1 when a consistency check fails (a performance
target missed is reported, not an error). Not part of CI.
"""

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    APP,
    BENCH,
    CONNECTIONS,
    HEALTH,
    ROOT,
    WRK_THREADS,
    Server,
    app_env,
    app_gunicorn_env,
    check_creates,
    child_pids,
    cpu_seconds,
    free_port,
    gunicorn_command,
    log,
    machine,
    measure,
    pg_connect,
    read_line_within,
    ready_for_load,
    rss_mb,
    settled_counts,
    shorten,
    start_server,
    stop_server,
    versions,
    workspace,
    write_results_md,
    wrk_command,
)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
PARTS = ("webhooks", "write", "sync")
MARKERS = ("<!-- bench/integrations.py: start -->", "<!-- bench/integrations.py: end -->")
THIS = Path(__file__).resolve()


@dataclass(frozen=True)
class Plan:
    burst_events: int  # task writes queued before the worker starts
    steady_rate: int  # task writes/s while the worker runs
    steady_seconds: int
    write_duration: int  # seconds measured per wrk run of part 2
    write_warmup: int
    write_rounds: int  # each side this many times, alternating
    write_blocks: int  # in process: blocks of writes per side, alternating
    write_block: int  # writes a block
    sync_changes: int
    sync_passes: int  # each kind of sync this many times (memory: the same after each)
    output: Path


FULL = Plan(
    burst_events=5000,
    steady_rate=50,
    steady_seconds=30,
    write_duration=15,
    write_warmup=3,
    write_rounds=3,
    write_blocks=10,
    write_block=100,
    sync_changes=10_000,
    sync_passes=4,
    output=BENCH,
)
SMOKE = Plan(
    burst_events=250,
    steady_rate=20,
    steady_seconds=5,
    write_duration=3,
    write_warmup=1,
    write_rounds=1,
    write_blocks=2,
    write_block=20,
    sync_changes=1200,
    sync_passes=2,
    output=BENCH / "out",
)
PLAN = SMOKE if QUICK else FULL
if os.environ.get("BENCH_SYNC_PASSES"):
    PLAN = replace(PLAN, sync_passes=int(os.environ["BENCH_SYNC_PASSES"]))
if os.environ.get("BENCH_SYNC_CHANGES"):
    PLAN = replace(PLAN, sync_changes=int(os.environ["BENCH_SYNC_CHANGES"]))

# Part 1: webhooks of the shared project (IN_FLIGHT_PER_WEBHOOK = 4 each, so 4 of
# them fill the worker's 16 sender threads). Part 2: the creator's.
BURST_WEBHOOKS = 4
WRITE_WEBHOOKS = 10
# webhooks.services._Interest.TTL: how long a process may go on using its view of
# which projects have active webhooks; waited (and a second more) after a change.
INTEREST_TTL = 5.0
# Part 2's sides and loads: (name, wrk connections, wrk threads).
SIDES = ("no_webhook", "10_webhooks")
WRITE_LOADS = (("c64", CONNECTIONS, WRK_THREADS), ("c1", 1, 1))
SYNC_PATH = "/api/v1/sync/"
PAGE_CHANGES = 500  # the contract's page size
# The targets of the issue.
TARGET_DELIVERIES_PER_S = 200
TARGET_WRITE_OVERHEAD = 0.05
# "Memory flat": the last round of sync passes adds at most this to a worker's RSS.
FLAT_MB = 4.0
# And the Python memory a pass holds (tracemalloc, in process) after its last page
# against after its first.
FLAT_TRACED_MB = 1.0

COMMAND = " ".join(
    [
        *(
            f"{name}={os.environ[name]}"
            for name in ("BENCH_QUICK", "BENCH_PARTS", "BENCH_SYNC_PASSES", "BENCH_SYNC_CHANGES")
            if name in os.environ
        ),
        ".venv/bin/python bench/integrations.py",
    ]
)


def machine_load() -> str:
    """`uptime` now (the load averages: other work on the machine)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


@contextmanager
def load_noted(results: dict[str, Any], part: str) -> Iterator[None]:
    """The machine's load before and after a measured part, in the results and the log."""
    before = machine_load()
    log(f"{part}: load before: {before}")
    results.setdefault("machine_load", {})[part] = {"before": before}
    try:
        yield
    finally:
        after = machine_load()
        log(f"{part}: load after: {after}")
        results["machine_load"][part]["after"] = after


def machine_cpu() -> tuple[float, float]:
    """The machine's CPU time so far, (busy, all), from /proc/stat (every core)."""
    values = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def machine_busy_share(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """How busy the machine's cores were between two `machine_cpu` readings (0 to 1)."""
    spent = after[1] - before[1]
    return round((after[0] - before[0]) / spent, 2) if spent else None


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 2)


# --- child processes: the seed, the writers, the receiver, the sync client ---------


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanager.settings")
    import django

    django.setup()


def child_seed(argv: list[str]) -> int:
    """The accounts, projects and webhooks (through the services); one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--receiver", required=True, help="http://127.0.0.1:<port>")
    args = parser.parse_args(argv)
    django_setup()
    from bench.seed import access_token, member
    from projects.selectors import personal_project_of
    from projects.services import project_create
    from webhooks.services import webhook_create

    hook_admin = member("bench_hook_admin")
    project = project_create(actor=hook_admin, name="Bench webhook project")
    burst = [
        webhook_create(
            actor=hook_admin,
            project_id=project.pk,
            url=f"{args.receiver}/hook/{index}",
            event_types=[],
            description=f"bench/integrations.py receiver {index}",
        )
        for index in range(BURST_WEBHOOKS)
    ]
    creator = member("bench_hook_creator")
    creator_project = personal_project_of(creator)
    assert creator_project is not None
    # Registered off: part 1 does not send them; part 2 turns them on and off.
    write = [
        webhook_create(
            actor=creator,
            project_id=creator_project.pk,
            url=f"{args.receiver}/write-hook/{index}",
            event_types=[],
            description=f"bench/integrations.py write hook {index}",
            is_active=False,
        )
        for index in range(WRITE_WEBHOOKS)
    ]
    syncer = member("bench_syncer")
    syncer_project = personal_project_of(syncer)
    assert syncer_project is not None
    seeded = {
        "hook_admin": hook_admin.pk,
        "hook_project": project.pk,
        "hook_webhooks": [hook.pk for hook in burst],
        "secrets": {f"/hook/{index}": hook.secret for index, hook in enumerate(burst)},
        "creator": creator.pk,
        "creator_project": creator_project.pk,
        "creator_webhooks": [hook.pk for hook in write],
        "creator_token": access_token(creator),
        "syncer": syncer.pk,
        "syncer_project": syncer_project.pk,
        "syncer_token": access_token(syncer),
    }
    print(json.dumps(seeded))
    return 0


def child_write(argv: list[str]) -> int:
    """`--count` tasks by `--user` in `--project` through `task_create`, as fast as
    possible or at `--rate` a second (on a schedule: a late write does not push the
    next ones back); one "BENCH_JSON" line with the events' id range."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--user", type=int, required=True)
    parser.add_argument("--project", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    django_setup()
    from django.db.models import Max

    from accounts.models import User
    from activity.models import Event
    from projects.models import Project
    from tasks.services import task_create

    actor = User.objects.get(pk=args.user)
    project = Project.objects.get(pk=args.project)
    priorities = ["low", "medium", "high"]
    first = Event.objects.aggregate(top=Max("id"))["top"] or 0
    late = 0
    started = time.monotonic()
    wall_started = time.time()
    for index in range(args.count):
        if args.rate:
            wait = started + index / args.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.05:
                late += 1
        task_create(
            actor=actor,
            project=project,
            title=f"bench integrations {index}",
            description="Created by bench/integrations.py.",
            priority=priorities[index % 3],
        )
    seconds = time.monotonic() - started
    last = Event.objects.aggregate(top=Max("id"))["top"] or 0
    report = {
        "tasks": args.count,
        "seconds": round(seconds, 2),
        "writes_per_s": round(args.count / seconds, 1) if seconds else None,
        "rate": args.rate or None,
        "late_by_more_than_50ms": late,
        "events_after": first,
        "events_upto": last,
        "started_at": wall_started,
        "ended_at": time.time(),
    }
    print("BENCH_JSON " + json.dumps(report), flush=True)
    return 0


class Receiver:
    """The webhook endpoints (`/hook/<n>`, one secret each) and the bench's own
    `/_secrets` (POST the secrets) and `/_stats` (GET; `?arrivals=1` adds, for every
    valid delivery, [arrival time, event id, ms from the event to its arrival])."""

    def __init__(self) -> None:
        from standardwebhooks import Webhook

        self.signer = Webhook
        self.signers: dict[str, Any] = {}
        self.valid = 0
        self.invalid: Counter[str] = Counter()
        self.duplicates = 0
        self.by_path: Counter[str] = Counter()
        self.seen: set[tuple[str, str]] = set()
        self.arrivals: list[tuple[float, int, float]] = []

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, bytes]:
        path, _, query = target.partition("?")
        if method == "POST" and path == "/_secrets":
            self.signers = {key: self.signer(value) for key, value in json.loads(body).items()}
            return "204 No Content", b""
        if method == "GET" and path == "/_stats":
            stats: dict[str, Any] = {
                "valid": self.valid,
                "invalid": sum(self.invalid.values()),
                "invalid_reasons": dict(self.invalid),
                "duplicates": self.duplicates,
                "by_path": dict(self.by_path),
            }
            if query == "arrivals=1":
                stats["arrivals"] = self.arrivals
            return "200 OK", json.dumps(stats).encode()
        if method != "POST":
            return "405 Method Not Allowed", b""
        reason = self.refusal(path, headers, body)
        if reason:
            self.invalid[reason] += 1
            # Refused: the worker logs a failure and the database check sees it.
            return "400 Bad Request", reason.encode()
        return "204 No Content", b""

    def refusal(self, path: str, headers: dict[str, str], body: bytes) -> str:
        """Why a delivery is not valid ("" when it is); a valid one is counted."""
        from standardwebhooks.webhooks import WebhookVerificationError

        signer = self.signers.get(path)
        if signer is None:
            return "unknown path"
        try:
            payload = signer.verify(body, headers)
        except WebhookVerificationError as exc:
            return f"signature: {exc}"
        message_id = headers.get("webhook-id", "")
        data = payload.get("data") or {}
        if str(data.get("event")) != message_id:
            return "webhook-id is not the event's id"
        key = (path, message_id)
        if key in self.seen:
            self.duplicates += 1
        self.seen.add(key)
        self.valid += 1
        self.by_path[path] += 1
        now = time.time()
        recorded = datetime.fromisoformat(payload["timestamp"]).timestamp()
        self.arrivals.append((now, int(message_id), round((now - recorded) * 1000, 1)))
        return ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                status, content = self.answer(method, target, headers, body)
                close = headers.get("connection", "").lower() == "close"
                extra = "Connection: close\r\n" if close else ""
                length = (
                    f"Content-Length: {len(content)}\r\n" if not status.startswith("204") else ""
                )
                writer.write(
                    f"HTTP/1.1 {status}\r\n{length}{extra}\r\n".encode("latin-1") + content
                )
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def child_receive(argv: list[str]) -> int:
    """Serve the receiver on a free loopback port; print "READY <port>"."""
    del argv

    async def serve() -> None:
        receiver = Receiver()
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        async with server:
            await server.serve_forever()

    with suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


def child_sync(argv: list[str]) -> int:
    """Page `/api/v1/sync/` from `--cursor` (none: a snapshot) until `has_more` is
    false, over one `requests.Session`; read the RSS of `--pids` after each page.
    One "BENCH_JSON" line: pages, changes, timings, memory; `missing` on a 404."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--cursor", default="")
    parser.add_argument("--pids", default="")
    args = parser.parse_args(argv)
    pids = [int(pid) for pid in args.pids.split(",") if pid]
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {args.token}", "Accept": "application/json"})
    cursor: str | None = args.cursor or None
    page_ms: list[float] = []
    page_sizes: list[int] = []
    rss: list[dict[str, float | None]] = []
    kinds: Counter[str] = Counter()
    ids: dict[str, set[int]] = {}
    report: dict[str, Any] = {"missing": False, "error": None}
    started = time.perf_counter()
    while True:
        sent = time.perf_counter()
        response = session.get(
            args.api + SYNC_PATH, params={"cursor": cursor} if cursor else None, timeout=120
        )
        page_ms.append(round((time.perf_counter() - sent) * 1000, 2))
        if response.status_code == 404 and not page_sizes:
            report["missing"] = True
            report["error"] = f"404: {response.text[:300]}"
            break
        if response.status_code != 200:
            report["error"] = (
                f"page {len(page_sizes) + 1}: {response.status_code} {response.text[:300]}"
            )
            break
        body = response.json()
        if set(body) != {"changes", "cursor", "has_more"}:
            report["error"] = f"page {len(page_sizes) + 1}: keys {sorted(body)}"
            break
        changes = body["changes"]
        page_sizes.append(len(changes))
        for change in changes:
            kinds[f"{change['type']} {change['op']}"] += 1
            ids.setdefault(change["type"], set()).add(int(change["id"]))
        rss.append({str(pid): rss_mb(pid) for pid in pids})
        cursor = body["cursor"]
        if not body["has_more"]:
            break
        if len(page_sizes) > 100_000:
            report["error"] = "more than 100,000 pages"
            break
    seconds = time.perf_counter() - started
    report.update(
        {
            "pages": len(page_sizes),
            "changes": sum(page_sizes),
            "largest_page": max(page_sizes, default=0),
            "seconds": round(seconds, 3),
            "pages_per_s": round(len(page_sizes) / seconds, 1) if seconds else None,
            "changes_per_s": round(sum(page_sizes) / seconds, 1) if seconds else None,
            "page_ms": {
                "p50": percentile(page_ms, 0.5),
                "p99": percentile(page_ms, 0.99),
                "max": max(page_ms, default=None),
                "all": page_ms,
            },
            "by_kind": dict(kinds),
            "distinct": {kind: len(found) for kind, found in ids.items()},
            "rss_mb_per_page": rss,
            "cursor": cursor,
        }
    )
    print("BENCH_JSON " + json.dumps(report), flush=True)
    return 0


def child_write_in_process(argv: list[str]) -> int:
    """The write path without HTTP or other clients: `POST /api/v1/tasks/` through
    Django's test client (the whole middleware stack, the after-commit work), blocks of
    `--block` writes, the creator's webhooks off and on in turn (switched in the
    database, this process's view of them dropped at once). Per block, the wall time
    and this process's CPU time a write; one "BENCH_JSON" line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--webhooks", required=True, help="ids, comma-separated")
    parser.add_argument("--blocks", type=int, required=True, help="per side")
    parser.add_argument("--block", type=int, required=True)
    args = parser.parse_args(argv)
    django_setup()
    from django.test import Client

    from webhooks import services
    from webhooks.models import Webhook

    ids = [int(i) for i in args.webhooks.split(",")]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {args.token}")
    counter = 0

    def write() -> None:
        nonlocal counter
        counter += 1
        response = client.post(
            "/api/v1/tasks/",
            {"title": f"in process {counter}", "description": "bench/integrations.py"},
            content_type="application/json",
        )
        if response.status_code != 201:
            raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")

    for _ in range(args.block):  # warm: code loaded, connections open
        write()
    blocks: list[dict[str, Any]] = []
    for number in range(2 * args.blocks):
        # ABBA: each side goes first as often as the other.
        side = SIDES[(number + number // 2) % 2]
        Webhook.objects.filter(pk__in=ids).update(is_active=side == "10_webhooks")
        services.interest.forget()
        write()  # the view re-read
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.block):
            write()
        blocks.append(
            {
                "side": side,
                "wall_ms": round((time.perf_counter() - wall) * 1000 / args.block, 3),
                "cpu_ms": round((time.process_time() - cpu) * 1000 / args.block, 3),
            }
        )
    # What the webhooks add to a write, alone: the outbox's subscriber after the commit
    # (webhooks.services.on_events: which projects have webhooks, then a Redis SET NX
    # and, at most once a second, a `dispatch` task row).
    from activity.models import Event

    project = Webhook.objects.filter(pk__in=ids).values_list("project_id", flat=True).first()
    event = Event.objects.filter(project_id=project).order_by("-id").first()
    assert event is not None
    on_events: dict[str, Any] = {}
    calls = 20 * args.block
    for side in SIDES:
        Webhook.objects.filter(pk__in=ids).update(is_active=side == "10_webhooks")
        services.interest.forget()
        services.on_events([event])
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            services.on_events([event])
        on_events[side] = {
            "wall_us": round((time.perf_counter() - wall) * 1e6 / calls, 1),
            "cpu_us": round((time.process_time() - cpu) * 1e6 / calls, 1),
        }
    Webhook.objects.filter(pk__in=ids).update(is_active=False)
    summary: dict[str, Any] = {"on_events": on_events, "on_events_calls": calls}
    for side in SIDES:
        mine = [block for block in blocks if block["side"] == side]
        summary[side] = {
            key: round(statistics.median(block[key] for block in mine), 3)
            for key in ("wall_ms", "cpu_ms")
        }
    for key in ("wall_ms", "cpu_ms"):
        plain, hooked = summary["no_webhook"][key], summary["10_webhooks"][key]
        summary[f"added_{key.removesuffix('_ms')}"] = round(hooked / plain - 1, 4)
    print("BENCH_JSON " + json.dumps({"blocks": blocks, "summary": summary}), flush=True)
    return 0


def child_sync_traced(argv: list[str]) -> int:
    """`/api/v1/sync/` from `--cursor` (none: a snapshot) through Django's test client,
    with tracemalloc on after a first, warming pass: the Python memory held after each
    page (after a garbage collection: what is retained) and the peak while making it.
    One "BENCH_JSON" line with every page's figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--cursor", default="")
    args = parser.parse_args(argv)
    django_setup()
    import gc
    import tracemalloc

    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {args.token}")

    def pages(traced: bool) -> list[dict[str, float]]:
        cursor = args.cursor or None
        figures: list[dict[str, float]] = []
        while True:
            response = client.get(SYNC_PATH, {"cursor": cursor} if cursor else {})
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
            body = response.json()
            has_more, cursor = body["has_more"], body["cursor"]
            del response, body  # held: what the server side keeps, not this page
            if traced:
                # Peak first (cyclic garbage awaiting the collector counts, as in a
                # server), held after a collection: what is retained.
                before_collection, peak = tracemalloc.get_traced_memory()
                gc.collect()
                held = tracemalloc.get_traced_memory()[0]
                figures.append(
                    {
                        "held_mb": round(held / 2**20, 3),
                        "peak_mb": round(peak / 2**20, 3),
                        "before_collection_mb": round(before_collection / 2**20, 3),
                    }
                )
                tracemalloc.reset_peak()
            if not has_more:
                return figures

    pages(traced=False)
    tracemalloc.start()
    traced = pages(traced=True)
    tracemalloc.stop()
    print("BENCH_JSON " + json.dumps({"pages": traced}), flush=True)
    return 0


CHILDREN: dict[str, Callable[[list[str]], int]] = {
    "seed": child_seed,
    "write": child_write,
    "receive": child_receive,
    "sync-client": child_sync,
    "write-in-process": child_write_in_process,
    "sync-traced": child_sync_traced,
}


def bench_json(output: str) -> dict[str, Any]:
    line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"no BENCH_JSON line in:\n{output[-2000:]}")
    return cast(dict[str, Any], json.loads(line.removeprefix("BENCH_JSON ")))


def run_child(name: str, args: list[str], env: Mapping[str, str], run_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(THIS), name, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    with (run_dir / f"{name}.log").open("a") as out:
        out.write(f"$ {name} {' '.join(args)}\n{done.stdout}\n{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return bench_json(done.stdout) if name != "seed" else json.loads(done.stdout.splitlines()[-1])


# --- part 1: webhook deliveries ------------------------------------------------------


def start_receiver(run_dir: Path) -> Server:
    log_path = run_dir / "receiver.log"
    with log_path.open("ab") as errors:
        process = subprocess.Popen(
            [sys.executable, str(THIS), "receive"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )
    assert process.stdout is not None
    # It prints one line, then nothing: the pipe never fills.
    ready = read_line_within(io.TextIOWrapper(process.stdout), 30)
    if not ready.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the receiver did not start: {ready!r} (see {log_path})")
    port = int(ready.removeprefix("READY "))
    return Server("receiver", process, log_path, f"http://127.0.0.1:{port}")


def receiver_stats(receiver: Server, arrivals: bool = False) -> dict[str, Any]:
    url = receiver.base_url + "/_stats" + ("?arrivals=1" if arrivals else "")
    return cast(dict[str, Any], requests.get(url, timeout=30).json())


def start_worker(env: Mapping[str, str], run_dir: Path) -> Server:
    log_path = run_dir / "db_worker.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-startup-delay"],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    return Server("db_worker", process, log_path, "")


WORKER_COMMAND = (
    "WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true"
    " .venv/bin/python manage.py db_worker --no-startup-delay"
)


def wait_for_deliveries(receiver: Server, worker: Server, expected: int, limit: float) -> float:
    """Poll the receiver until it has `expected` valid deliveries in all; seconds
    waited (`limit` at most; the checks then tell what is missing)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        stats = receiver_stats(receiver)
        if stats["valid"] + stats["invalid"] >= expected:
            break
        if worker.process.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")
        time.sleep(0.25)
    return round(time.monotonic() - started, 1)


def wait_until_settled(conn: psycopg.Connection[Any], hooks: list[int], limit: float = 60) -> None:
    """Until no delivery of `hooks` is pending or on its way (the worker records an
    answer after the receiver counted it)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM webhooks_delivery WHERE webhook_id = ANY(%s)"
            " AND status IN ('pending', 'delivering')",
            (hooks,),
        ).fetchone()
        if row is not None and row[0] == 0:
            return
        time.sleep(0.25)


def delivery_checks(
    conn: psycopg.Connection[Any],
    seeded: dict[str, Any],
    events_after: int,
    events_upto: int,
    received: list[list[float]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """The database after the deliveries of events (after, upto]: one per event and
    webhook, each `succeeded` with one attempt (a 204) logged; the receiver counted
    each once with a valid signature, and no invalid request."""
    hooks = seeded["hook_webhooks"]
    span = (events_after, events_upto)
    row = conn.execute(
        "SELECT count(*) FROM activity_event WHERE project_id = %s AND id > %s AND id <= %s",
        (seeded["hook_project"], *span),
    ).fetchone()
    events = int(row[0]) if row else 0
    row = conn.execute(
        "WITH d AS (SELECT id, status, attempts FROM webhooks_delivery"
        "  WHERE webhook_id = ANY(%s) AND event_id > %s AND event_id <= %s),"
        " a AS (SELECT a.delivery_id, count(*) AS n,"
        "  count(*) FILTER (WHERE a.status_code = 204) AS ok"
        "  FROM webhooks_attempt a JOIN d ON d.id = a.delivery_id GROUP BY a.delivery_id)"
        " SELECT (SELECT count(*) FROM d),"
        " (SELECT count(*) FROM d WHERE status = 'succeeded'),"
        " (SELECT count(*) FROM d WHERE attempts <> 1),"
        " (SELECT coalesce(sum(n), 0) FROM a),"
        " (SELECT count(*) FROM d"
        "  WHERE id NOT IN (SELECT delivery_id FROM a WHERE n = 1 AND ok = 1))",
        (hooks, *span),
    ).fetchone()
    assert row is not None
    deliveries, succeeded, not_one_attempt, attempts, without_one_204 = (int(v) for v in row)
    per_webhook = dict(
        conn.execute(
            "SELECT webhook_id, count(*) FROM webhooks_delivery WHERE webhook_id = ANY(%s)"
            " AND event_id > %s AND event_id <= %s GROUP BY webhook_id",
            (hooks, *span),
        ).fetchall()
    )
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE NOT is_active OR consecutive_failures > 0)"
        " FROM webhooks_webhook WHERE id = ANY(%s)",
        (hooks,),
    ).fetchone()
    unhealthy = int(row[0]) if row else 0
    in_span = [arrival for arrival in received if span[0] < arrival[1] <= span[1]]
    expected = events * len(hooks)
    consistent = (
        events > 0
        and deliveries == expected
        and all(per_webhook.get(hook, 0) == events for hook in hooks)
        and succeeded == deliveries
        and not_one_attempt == 0
        and attempts == deliveries
        and without_one_204 == 0
        and unhealthy == 0
        and len(in_span) == deliveries
        and stats["invalid"] == 0
        and stats["duplicates"] == 0
    )
    return {
        "events": events,
        "webhooks": len(hooks),
        "deliveries_expected": expected,
        "deliveries": deliveries,
        "succeeded": succeeded,
        "attempts_logged": attempts,
        "deliveries_not_one_attempt": not_one_attempt,
        "deliveries_without_one_204_attempt": without_one_204,
        "webhooks_disabled_or_failing": unhealthy,
        "received_valid": len(in_span),
        "received_invalid_all_run": stats["invalid"],
        "received_duplicates_all_run": stats["duplicates"],
        "consistent": consistent,
    }


def attempt_figures(
    conn: psycopg.Connection[Any], hooks: list[int], events_after: int, events_upto: int
) -> dict[str, Any]:
    """The worker's own view: when the deliveries were made (dispatch) and attempted."""
    row = conn.execute(
        "SELECT extract(epoch FROM min(d.created_at)), extract(epoch FROM max(d.created_at)),"
        " extract(epoch FROM min(a.at)), extract(epoch FROM max(a.at)),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms),"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY a.duration_ms)"
        " FROM webhooks_delivery d JOIN webhooks_attempt a ON a.delivery_id = d.id"
        " WHERE d.webhook_id = ANY(%s) AND d.event_id > %s AND d.event_id <= %s",
        (hooks, events_after, events_upto),
    ).fetchone()
    if row is None or row[0] is None:
        return {}
    made_first, made_last, tried_first, tried_last, p50, p99 = (float(v) for v in row)
    return {
        "deliveries_made_first_at": made_first,
        "dispatch_seconds": round(made_last - made_first, 2),
        "attempts_first_at": tried_first,
        "attempts_last_at": tried_last,
        "attempt_ms_p50": round(p50, 1),
        "attempt_ms_p99": round(p99, 1),
    }


def per_tenth(times: list[float]) -> list[float]:
    """Deliveries/s over each tenth of them, in order: whether the rate changes as the
    backlog drains."""
    ordered = sorted(times)
    size = len(ordered) // 10
    if size < 2:
        return []
    return [
        round((size - 1) / (ordered[(k + 1) * size - 1] - ordered[k * size]), 1)
        for k in range(10)
        if ordered[(k + 1) * size - 1] > ordered[k * size]
    ]


def postgres_cpu(conn: psycopg.Connection[Any]) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the bench's database now
    (the worker's connections; not the server's other databases nor its own processes)."""
    pids = [
        int(row[0])
        for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
    ]
    found: dict[int, float] = {}
    for pid in pids:
        with suppress(OSError, IndexError, ValueError):
            found[pid] = cpu_seconds(pid)
    return found


def cpu_spent(
    worker: Server,
    receiver: Server,
    receiver_before: float,
    postgres_before: dict[int, float],
    machine_before: tuple[float, float],
    conn: psycopg.Connection[Any],
) -> dict[str, Any]:
    """Where the machine's CPU went since the worker started: the worker (its start-up
    included), the receiver, PostgreSQL's backends on the bench's database (one that
    ended meanwhile is missed), and everything (both cores, other work included)."""
    postgres = postgres_cpu(conn)
    machine = machine_cpu()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "worker_s": round(cpu_seconds(worker.process.pid), 1),
        "receiver_s": round(cpu_seconds(receiver.process.pid) - receiver_before, 1),
        "postgres_s": round(
            sum(value - postgres_before.get(pid, 0.0) for pid, value in postgres.items()), 1
        ),
        "machine_busy_s": round((machine[0] - machine_before[0]) / ticks, 1),
        "machine_busy_share": machine_busy_share(machine_before, machine),
    }


def per_second(times: list[float]) -> dict[str, Any]:
    """Deliveries in each whole second from the first (the last, partial, left out)."""
    if len(times) < 2:
        return {}
    first = min(times)
    buckets = Counter(int(t - first) for t in times)
    full = [buckets.get(second, 0) for second in range(int(max(times) - first))]
    if not full:
        return {}
    return {
        "min": min(full),
        "median": statistics.median(full),
        "max": max(full),
        "seconds": len(full),
    }


def webhooks_part(
    env: Mapping[str, str],
    run_dir: Path,
    servers: list[Server],
    conn: psycopg.Connection[Any],
    seeded: dict[str, Any],
    receiver: Server,
) -> dict[str, Any]:
    hooks = seeded["hook_webhooks"]
    writer_args = ["--user", str(seeded["hook_admin"]), "--project", str(seeded["hook_project"])]
    log(f"webhooks: {PLAN.burst_events:,} task writes with no worker running")
    burst = run_child("write", [*writer_args, "--count", str(PLAN.burst_events)], env, run_dir)
    log(f"  {burst['tasks']:,} tasks in {burst['seconds']} s ({burst['writes_per_s']}/s)")
    queued = conn.execute(
        "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status = 'READY'"
    ).fetchone()
    expected = (burst["events_upto"] - burst["events_after"]) * len(hooks)
    worker_env = {**env, "WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOW_PRIVATE": "true"}
    log(f"webhooks: one db_worker for {expected:,} deliveries ({len(hooks)} webhooks)")
    machine_before = machine_cpu()
    receiver_cpu = cpu_seconds(receiver.process.pid)
    postgres_before = postgres_cpu(conn)
    worker_started = time.time()
    worker = start_worker(worker_env, run_dir)
    servers.append(worker)
    waited = wait_for_deliveries(receiver, worker, expected, limit=max(180.0, expected / 20))
    cpu = cpu_spent(worker, receiver, receiver_cpu, postgres_before, machine_before, conn)
    cpu["worker_ms_per_delivery"] = (
        round(cpu["worker_s"] * 1000 / expected, 2) if expected else None
    )
    wait_until_settled(conn, hooks)
    stats = receiver_stats(receiver, arrivals=True)
    received = stats.pop("arrivals")
    span = (burst["events_after"], burst["events_upto"])
    times = [arrival[0] for arrival in received if span[0] < arrival[1] <= span[1]]
    first, last = (min(times), max(times)) if times else (worker_started, worker_started)
    from_first = round((len(times) - 1) / (last - first), 1) if last > first else None
    from_start = round(len(times) / (last - worker_started), 1) if times else None
    worker_view = attempt_figures(conn, hooks, *span)
    check = delivery_checks(conn, seeded, *span, received, stats)
    burst_result = {
        "writes": burst,
        "dispatch_tasks_queued_meanwhile": int(queued[0]) if queued else None,
        "deliveries": len(times),
        "waited_s": waited,
        "worker_start_to_first_delivery_s": round(first - worker_started, 2),
        "first_to_last_delivery_s": round(last - first, 2),
        "worker_start_to_last_delivery_s": round(last - worker_started, 2),
        "deliveries_per_s": from_first,
        "deliveries_per_s_from_worker_start": from_start,
        "per_second": per_second(times),
        "per_tenth": per_tenth(times),
        "dispatch_seconds": worker_view.get("dispatch_seconds"),
        "worker_start_to_deliveries_made_s": (
            round(worker_view["deliveries_made_first_at"] - worker_started, 2)
            if worker_view
            else None
        ),
        "attempt_ms_p50": worker_view.get("attempt_ms_p50"),
        "attempt_ms_p99": worker_view.get("attempt_ms_p99"),
        # From the worker's start to the last delivery (the worker's includes its start-up).
        "cpu": cpu,
        "check": check,
    }
    log(
        f"  {len(times):,} deliveries: {from_first}/s from the first one"
        f" ({from_start}/s from the worker's start); check: {check}"
    )

    # The steady state: the same worker, events arriving at a fixed rate.
    count = PLAN.steady_rate * PLAN.steady_seconds
    log(f"webhooks: steady state, {PLAN.steady_rate} task writes/s for {PLAN.steady_seconds} s")
    steady = run_child(
        "write",
        [*writer_args, "--count", str(count), "--rate", str(PLAN.steady_rate)],
        env,
        run_dir,
    )
    expected_all = (steady["events_upto"] - burst["events_after"]) * len(hooks)
    wait_for_deliveries(receiver, worker, expected_all, limit=max(120.0, expected_all / 20))
    wait_until_settled(conn, hooks)
    stats = receiver_stats(receiver, arrivals=True)
    received = stats.pop("arrivals")
    span = (steady["events_after"], steady["events_upto"])
    mine = [arrival for arrival in received if span[0] < arrival[1] <= span[1]]
    lags = [arrival[2] for arrival in mine]
    times = [arrival[0] for arrival in mine]
    spread = max(times) - min(times) if times else 0.0
    steady_check = delivery_checks(conn, seeded, *span, received, stats)
    whole_check = delivery_checks(
        conn, seeded, burst["events_after"], steady["events_upto"], received, stats
    )
    stop_server(worker)
    servers.remove(worker)
    steady_result: dict[str, Any] = {
        "writes": steady,
        "offered_deliveries_per_s": PLAN.steady_rate * len(hooks),
        "deliveries": len(mine),
        # From the first delivery of these events to the last: the offered rate when
        # the worker keeps up.
        "deliveries_per_s": round((len(times) - 1) / spread, 1) if spread else None,
        "last_delivery_after_last_write_s": (
            round(max(times) - steady["ended_at"], 2) if times else None
        ),
        "event_to_delivery_ms": {
            "p50": percentile(lags, 0.5),
            "p95": percentile(lags, 0.95),
            "p99": percentile(lags, 0.99),
            "max": max(lags, default=None),
        },
        "check": steady_check,
    }
    log(
        f"  {len(mine):,} deliveries, event to delivery p50"
        f" {steady_result['event_to_delivery_ms']['p50']} ms, p99"
        f" {steady_result['event_to_delivery_ms']['p99']} ms; check: {steady_check}"
    )
    return {
        "webhooks": len(hooks),
        "worker_command": WORKER_COMMAND,
        "burst": burst_result,
        "steady": steady_result,
        "check_all": whole_check,
        "receiver": stats,
    }


# --- part 2: the write with 10 webhooks ------------------------------------------------


def set_webhooks_active(conn: psycopg.Connection[Any], ids: list[int], active: bool) -> None:
    conn.execute("UPDATE webhooks_webhook SET is_active = %s WHERE id = ANY(%s)", (active, ids))


def dispatch_tasks(conn: psycopg.Connection[Any]) -> int:
    """`dispatch` tasks in django-tasks' table (the writes queue one when a webhook may
    want their events)."""
    row = conn.execute(
        "SELECT count(*) FROM django_tasks_database_dbtaskresult"
        " WHERE task_path = 'webhooks.tasks.dispatch'"
    ).fetchone()
    return int(row[0]) if row else 0


def write_part(
    env: Mapping[str, str],
    run_dir: Path,
    conn: psycopg.Connection[Any],
    seeded: dict[str, Any],
    gunicorn: Server,
) -> dict[str, Any]:
    creator = seeded["creator"]
    token = seeded["creator_token"]
    # Only the creator's webhooks may be active: "no webhook" is none in the database.
    set_webhooks_active(conn, seeded["hook_webhooks"], False)
    runs: list[dict[str, Any]] = []
    for round_ in range(1, PLAN.write_rounds + 1):
        order = SIDES if round_ % 2 else tuple(reversed(SIDES))
        for side in order:
            set_webhooks_active(conn, seeded["creator_webhooks"], side == "10_webhooks")
            time.sleep(INTEREST_TTL + 1)  # every worker's view of the webhooks is fresh
            for load, connections, threads in WRITE_LOADS:
                name = f"write-{side}-{load}-round{round_}"
                log(name)
                before: dict[str, int] = {}
                queued_before: list[int] = []

                def after_warmup(
                    before: dict[str, int] = before, queued_before: list[int] = queued_before
                ) -> dict[str, str]:
                    before.update(settled_counts(conn, creator))
                    queued_before.append(dispatch_tasks(conn))
                    return {}

                measured = measure(
                    name,
                    wrk_command("create.lua", gunicorn.base_url, connections, threads),
                    {"BENCH_TOKEN": token},
                    duration=PLAN.write_duration,
                    warmup=PLAN.write_warmup,
                    run_dir=run_dir,
                    shown_env="BENCH_TOKEN=<bench_hook_creator's access token>",
                    after_warmup=after_warmup,
                )
                check = check_creates(conn, creator, before, measured.extra["ok_2xx"])
                queued = dispatch_tasks(conn) - queued_before[0]
                check["dispatch_tasks_queued"] = queued
                # No active webhook: the writes queue nothing; 10: they do (a second apart).
                check["consistent"] = (
                    bool(check["consistent"])
                    and measured.errors == 0
                    and ((queued == 0) if side == "no_webhook" else (queued > 0))
                )
                runs.append(
                    {
                        "side": side,
                        "load": load,
                        "round": round_,
                        "connections": connections,
                        "rps": measured.rps,
                        "p50_ms": measured.p50_ms,
                        "p95_ms": measured.p95_ms,
                        "p99_ms": measured.p99_ms,
                        "max_ms": measured.max_ms,
                        "requests": measured.requests,
                        "errors": measured.errors,
                        "command": measured.command,
                        "check": check,
                    }
                )
                log(
                    f"  {measured.rps} rps, p50 {measured.p50_ms} ms, p99 {measured.p99_ms} ms,"
                    f" {measured.errors} errors; dispatch tasks queued: {queued};"
                    f" consistent: {check['consistent']}"
                )
    set_webhooks_active(conn, seeded["creator_webhooks"], False)
    summary: dict[str, Any] = {}
    for load, connections, _threads in WRITE_LOADS:
        sides: dict[str, Any] = {}
        for side in SIDES:
            mine = [run for run in runs if run["side"] == side and run["load"] == load]
            sides[side] = {
                key: round(statistics.mean(run[key] for run in mine), 2)
                for key in ("rps", "p50_ms", "p99_ms")
            }
        # Each round's two sides ran one after the other: their ratio leaves out the
        # machine's drift between rounds; the median of the rounds' ratios is judged.
        by_round: dict[int, dict[str, Any]] = {}
        for run in runs:
            if run["load"] == load:
                by_round.setdefault(run["round"], {})[run["side"]] = run
        ratios = {
            key: [
                pair["10_webhooks"][key] / pair["no_webhook"][key] - 1 for pair in by_round.values()
            ]
            for key in ("p50_ms", "p99_ms", "rps")
        }
        summary[load] = {
            "connections": connections,
            **sides,
            "added_p50": round(statistics.median(ratios["p50_ms"]), 4),
            "added_p99": round(statistics.median(ratios["p99_ms"]), 4),
            "rps_change": round(statistics.median(ratios["rps"]), 4),
            "added_p50_by_round": [round(value, 4) for value in ratios["p50_ms"]],
        }
    log("write: in process (Django's test client), the sides alternating every block")
    in_process = run_child(
        "write-in-process",
        [
            "--token",
            token,
            "--webhooks",
            ",".join(str(hook) for hook in seeded["creator_webhooks"]),
            "--blocks",
            str(PLAN.write_blocks),
            "--block",
            str(PLAN.write_block),
        ],
        env,
        run_dir,
    )
    figures = in_process["summary"]
    log(
        f"  a write: {figures['no_webhook']} without, {figures['10_webhooks']} with 10 webhooks:"
        f" wall {figures['added_wall']:+.1%}, CPU {figures['added_cpu']:+.1%}"
    )
    return {"runs": runs, "summary": summary, "in_process": in_process}


# --- part 3: sync -------------------------------------------------------------------------


def sync_client(
    api: str, token: str, cursor: str | None, pids: list[int], run_dir: Path
) -> dict[str, Any]:
    args = ["--api", api, "--token", token, "--pids", ",".join(str(pid) for pid in pids)]
    if cursor:
        args += ["--cursor", cursor]
    return run_child("sync-client", args, os.environ, run_dir)


def worker_rss(gunicorn: Server) -> dict[str, float | None]:
    return {str(pid): rss_mb(pid) for pid in sorted(child_pids(gunicorn.process.pid))}


def slowest_page(page_ms: list[float]) -> str:
    """ "N of M, X ms": the slowest page's number (from 1), the pages, its time."""
    if not page_ms:
        return "none"
    slowest = max(range(len(page_ms)), key=page_ms.__getitem__)
    return f"{slowest + 1} of {len(page_ms)}, {page_ms[slowest]} ms"


def sync_pass_figures(report: dict[str, Any]) -> dict[str, Any]:
    pages = report["rss_mb_per_page"]
    figures = {key: report[key] for key in ("pages", "changes", "largest_page", "seconds")}
    figures.update(
        {
            "pages_per_s": report["pages_per_s"],
            "changes_per_s": report["changes_per_s"],
            "page_ms_p50": report["page_ms"]["p50"],
            "page_ms_p99": report["page_ms"]["p99"],
            "page_ms_max": report["page_ms"]["max"],
            # Each page's, in order: which page a slow one is.
            "page_ms": report["page_ms"]["all"],
            "by_kind": report["by_kind"],
            "distinct": report["distinct"],
            "rss_mb_per_page": pages,
            "rss_mb_after_first_page": pages[0] if pages else None,
            "rss_mb_after_last_page": pages[-1] if pages else None,
            "rss_mb_peak": {
                pid: max((page[pid] or 0.0) for page in pages)
                for pid in (pages[0] if pages else {})
            },
            "error": report["error"],
        }
    )
    return figures


def sync_part(
    env: Mapping[str, str],
    run_dir: Path,
    seeded: dict[str, Any],
    gunicorn: Server,
) -> dict[str, Any]:
    token = seeded["syncer_token"]
    api = gunicorn.base_url
    pids = sorted(child_pids(gunicorn.process.pid))
    log("sync: the cursor (a snapshot of an account with nothing but its personal project)")
    start = sync_client(api, token, None, pids, run_dir)
    if start["missing"]:
        reason = (
            f"GET {SYNC_PATH} answered 404 (the endpoint is not there yet): part 3 not measured"
        )
        log(f"  SKIPPED: {reason}")
        return {"skipped": reason, "answer": start["error"]}
    if start["error"]:
        raise RuntimeError(f"sync: {start['error']}")
    cursor = start["cursor"]
    log(f"sync: {PLAN.sync_changes:,} task creates after the cursor")
    writes = run_child(
        "write",
        [
            "--user",
            str(seeded["syncer"]),
            "--project",
            str(seeded["syncer_project"]),
            "--count",
            str(PLAN.sync_changes),
        ],
        env,
        run_dir,
    )
    log(f"  {writes['tasks']:,} tasks in {writes['seconds']} s")
    rss_before = worker_rss(gunicorn)
    passes: dict[str, list[dict[str, Any]]] = {"changes": [], "snapshot": []}
    warmup: dict[str, dict[str, Any]] = {}
    # Rounds of a changes pass and a snapshot pass; the first is a warm-up (its
    # speed not counted: a worker's first pages load code). The workers' RSS after
    # each round: a heap reaches its working size over the first hundred pages or
    # so, then stays; what grows with the changes synced grows every round.
    rounds_rss: list[dict[str, float | None]] = []
    for number in range(PLAN.sync_passes + 1):
        for kind, start_cursor in (("changes", cursor), ("snapshot", None)):
            figures = sync_pass_figures(sync_client(api, token, start_cursor, pids, run_dir))
            if number == 0:
                warmup[kind] = figures
            else:
                passes[kind].append(figures)
            log(
                f"  {kind} {'warm-up' if number == 0 else f'pass {number}'}: {figures['pages']}"
                f" pages, {figures['changes']:,} changes in {figures['seconds']} s"
                f" ({figures['pages_per_s']} pages/s, {figures['changes_per_s']:,} changes/s),"
                f" page p50 {figures['page_ms_p50']} ms, p99 {figures['page_ms_p99']} ms"
                f" (the slowest: page {slowest_page(figures['page_ms'])}); RSS"
                f" after its last page {figures['rss_mb_after_last_page']}"
            )
        rounds_rss.append(worker_rss(gunicorn))
    rss_after = worker_rss(gunicorn)
    log("sync: in process (Django's test client) with tracemalloc, each kind once")
    traced: dict[str, Any] = {}
    for kind, start_cursor in (("changes", cursor), ("snapshot", None)):
        args = ["--token", token, *(["--cursor", start_cursor] if start_cursor else [])]
        traced[kind] = traced_figures(run_child("sync-traced", args, env, run_dir)["pages"])
        log(f"  {kind}: {traced[kind]}")
    expected_pages = -(-PLAN.sync_changes // PAGE_CHANGES)
    checks: dict[str, Any] = {}
    for kind, runs in passes.items():
        # Each new task once, as an upsert (the snapshot has the personal project too).
        runs = [warmup[kind], *runs]
        checks[kind] = {
            "consistent": all(
                run["error"] is None
                and run["by_kind"].get("task upsert") == PLAN.sync_changes
                and run["distinct"].get("task") == PLAN.sync_changes
                and run["largest_page"] <= PAGE_CHANGES
                and (run["pages"] == expected_pages if kind == "changes" else True)
                for run in runs
            ),
            "task_upserts": [run["by_kind"].get("task upsert") for run in runs],
            "distinct_tasks": [run["distinct"].get("task") for run in runs],
            "pages": [run["pages"] for run in runs],
            "errors": [run["error"] for run in runs if run["error"]],
        }
    return {
        "cursor_pages": start["pages"],
        "writes": writes,
        "changes_expected": PLAN.sync_changes,
        "warmup": warmup,
        "passes": passes,
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_after,
        "memory": memory_verdict(rss_before, rounds_rss, passes),
        "traced": traced,
        "checks": checks,
    }


def traced_figures(pages: list[dict[str, float]]) -> dict[str, Any]:
    """The Python memory (tracemalloc) a pass held after its first and last pages and
    the highest peak while making one: flat when the last holds at most FLAT_TRACED_MB
    more than the first."""
    held = [page["held_mb"] for page in pages]
    peaks = [page["peak_mb"] for page in pages]
    grew = round(held[-1] - held[0], 3) if held else None
    return {
        "pages": len(pages),
        "held_mb_after_first_page": held[0] if held else None,
        "held_mb_after_last_page": held[-1] if held else None,
        "held_mb_max": max(held, default=None),
        "page_peak_mb_first": peaks[0] if peaks else None,
        "page_peak_mb_max": max(peaks, default=None),
        "page_peak_mb_median": statistics.median(peaks) if peaks else None,
        "held_growth_mb": grew,
        "held_mb_per_page": held,
        # Cyclic garbage a page leaves for Python's collector (a server collects it
        # when the collector runs; RSS meanwhile holds it).
        "before_collection_mb_max": max(
            (page["before_collection_mb"] for page in pages), default=None
        ),
        "peak_mb_per_page": peaks,
        "flat": grew is not None and grew <= FLAT_TRACED_MB,
    }


def memory_verdict(
    before: Mapping[str, float | None],
    rounds: list[dict[str, float | None]],
    passes: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """Each worker's RSS after each round and what each round added: flat when the
    last round (some 2 x 10,000 objects synced) added at most FLAT_MB to any worker."""
    added: list[dict[str, float]] = []
    previous = before
    for after in rounds:
        added.append(
            {pid: round((after.get(pid) or 0.0) - (previous.get(pid) or 0.0), 1) for pid in after}
        )
        previous = after
    peaks: dict[str, float] = {}
    for run in passes["changes"] + passes["snapshot"]:
        for page in run["rss_mb_per_page"]:
            for pid, value in page.items():
                peaks[pid] = max(peaks.get(pid, 0.0), value or 0.0)
    last = added[-1] if added else {}
    return {
        "before": dict(before),
        "after_round": rounds,
        "added_by_round": added,
        "peak": peaks,
        "last_round_added_mb": last,
        "flat": bool(last) and max(last.values()) <= FLAT_MB,
    }


# --- the run ------------------------------------------------------------------------------


def run(work: Any) -> dict[str, Any]:
    parts = [p for p in os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"BENCH_PARTS: {', '.join(sorted(unknown))}? (of {', '.join(PARTS)})")
    env = app_env(work.database_url, work.prefix, work.run_dir, "WARNING")
    results: dict[str, Any] = {
        "run": {
            "command": COMMAND,
            "quick": QUICK,
            "parts": parts,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "plan": {key: value for key, value in PLAN.__dict__.items() if key != "output"},
        },
        "machine": machine(),
        "versions": versions(work.database_url),
    }
    log("migrate")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    receiver = start_receiver(work.run_dir)
    work.servers.append(receiver)
    log("seed accounts, projects and webhooks through the services")
    seeded = run_child("seed", ["--receiver", receiver.base_url], env, work.run_dir)
    requests.post(receiver.base_url + "/_secrets", json=seeded["secrets"], timeout=10)
    conn = pg_connect(work.database_url.rsplit("/", 1)[1])
    try:
        if "webhooks" in parts:
            with load_noted(results, "webhooks"):
                results["webhooks"] = webhooks_part(
                    env, work.run_dir, work.servers, conn, seeded, receiver
                )
        stop_server(receiver)
        work.servers.remove(receiver)
        if "write" in parts or "sync" in parts:
            port = free_port()
            gunicorn = start_server(
                "gunicorn",
                gunicorn_command(APP, port),
                app_gunicorn_env(env, work.run_dir),
                work.run_dir,
                port,
                HEALTH,
            )
            work.servers.append(gunicorn)
            results["server"] = "PROMETHEUS_MULTIPROC_DIR=<tmp> " + " ".join(
                shorten(part) for part in gunicorn_command(APP, port)
            )
            if "write" in parts:
                with load_noted(results, "write"):
                    results["write"] = write_part(env, work.run_dir, conn, seeded, gunicorn)
            if "sync" in parts:
                with load_noted(results, "sync"):
                    results["sync"] = sync_part(env, work.run_dir, seeded, gunicorn)
    finally:
        conn.close()
    return results


# --- report -------------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets and the consistency checks (`check`: a failure is an
    error), each with the figures it was judged on."""
    rows: list[dict[str, Any]] = []

    def add(target: str, figures: str, met: bool | None, check: bool = False) -> None:
        rows.append({"target": target, "figures": figures, "met": met, "check": check})

    def said(check: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in check.items() if k != "consistent")

    hooks = results.get("webhooks")
    if hooks:
        burst = hooks["burst"]
        rate = burst["deliveries_per_s"] or 0.0
        add(
            f"(25) webhook deliveries ≥ {TARGET_DELIVERIES_PER_S}/s, one worker, every"
            " delivery signed and logged",
            f"{rate}/s from the first delivery ({burst['deliveries']:,} deliveries in"
            f" {burst['first_to_last_delivery_s']} s);"
            f" {burst['deliveries_per_s_from_worker_start']}/s from the worker's start",
            rate >= TARGET_DELIVERIES_PER_S,
        )
        for name, check in (
            ("the burst", burst["check"]),
            ("the steady state", hooks["steady"]["check"]),
            ("the whole part", hooks["check_all"]),
        ):
            add(
                f"(check) {name}: each delivery succeeded, one attempt (204) logged, received"
                " once with a valid signature",
                said(check),
                bool(check["consistent"]),
                check=True,
            )
        steady = hooks["steady"]
        lag = steady["event_to_delivery_ms"]
        add(
            f"(25) steady state: the worker keeps up with {steady['offered_deliveries_per_s']}"
            " deliveries/s offered",
            f"{steady['deliveries_per_s']}/s delivered (first to last); event to"
            f" delivery p50 {lag['p50']} ms, p99 {lag['p99']} ms; the last delivery"
            f" {steady['last_delivery_after_last_write_s']} s after the last write",
            None,
        )
    write = results.get("write")
    if write:
        single, many = write["summary"]["c1"], write["summary"]["c64"]
        add(
            f"(25) a task write with 10 webhooks: added latency ≤ {TARGET_WRITE_OVERHEAD:.0%}"
            " (one client, p50)",
            f"p50 {single['10_webhooks']['p50_ms']} ms vs {single['no_webhook']['p50_ms']} ms"
            f" (means; the median of the rounds' ratios {single['added_p50']:+.1%}); p99"
            f" {single['added_p99']:+.1%}; at 64"
            f" connections: p50 {many['added_p50']:+.1%}, requests/s {many['rps_change']:+.1%};"
            f" in process: wall {write['in_process']['summary']['added_wall']:+.1%}, CPU"
            f" {write['in_process']['summary']['added_cpu']:+.1%}",
            single["added_p50"] <= TARGET_WRITE_OVERHEAD,
        )
        failed = [run for run in write["runs"] if not run["check"]["consistent"]]
        add(
            "(check) every 2xx create in the database with its event; dispatch tasks queued"
            " with 10 webhooks only; no errors",
            f"{len(write['runs']) - len(failed)} of {len(write['runs'])} runs"
            + ("; failed: " + ", ".join(run_name(run) for run in failed) if failed else ""),
            not failed,
            check=True,
        )
    sync = results.get("sync")
    if sync and "skipped" in sync:
        add(
            "(25) sync of 10,000 changes: pages/s, memory flat",
            sync["skipped"],
            None,
        )
    elif sync:
        changes, snapshot = sync["passes"]["changes"], sync["passes"]["snapshot"]
        add(
            f"(25) sync of {sync['changes_expected']:,} changes: pages/s, memory flat",
            f"{changes[-1]['pages']} pages a pass,"
            f" {median_of(changes, 'pages_per_s')} pages/s,"
            f" {fmt(median_of(changes, 'changes_per_s'))} changes/s (median of"
            f" {len(changes)} passes); the snapshot: {snapshot[-1]['pages']} pages,"
            f" {median_of(snapshot, 'pages_per_s')} pages/s;"
            " RSS added to the workers by the last round (a changes pass and a snapshot pass):"
            f" {memory_text(sync['memory']['last_round_added_mb'])} MB; Python memory held"
            " in process after the last page over the first: "
            + ", ".join(f"{kind} {t['held_growth_mb']:+} MB" for kind, t in sync["traced"].items()),
            bool(sync["memory"]["flat"]) and all(t["flat"] for t in sync["traced"].values()),
        )
        for kind, check in sync["checks"].items():
            add(
                f"(check) sync {kind}: every task once, as an upsert, pages of at most"
                f" {PAGE_CHANGES}",
                said(check),
                bool(check["consistent"]),
                check=True,
            )
    return rows


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run[key] is not None]
    return round(float(statistics.median(values)), 1) if values else None


def run_name(run: dict[str, Any]) -> str:
    return f"{run['side']} {run['load']} round {run['round']}"


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    run_ = results["run"]
    m = results["machine"]
    lines = [
        MARKERS[0],
        "",
        "## Issue 25 (integrations): webhook deliveries, the write with webhooks, sync",
        "",
        f"Run: `{run_['command']}` on {run_['date']}"
        f" ({'smoke run, BENCH_QUICK=1' if run_['quick'] else 'full run'},"
        f" {run_['seconds']:.0f} s in all); figures in `integrations.json`.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, Linux {m['kernel']}. The"
        " load generators, the receiver and the worker share its cores with the servers,"
        " PostgreSQL and Redis.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        "",
        "Machine load (`uptime`) around each part (other work on the machine shows here):",
        "",
        *(
            f"- {part}: before `{load['before']}`; after `{load.get('after', '-')}`"
            for part, load in results.get("machine_load", {}).items()
        ),
        "",
    ]
    hooks = results.get("webhooks")
    if hooks:
        burst, steady = hooks["burst"], hooks["steady"]
        lag = steady["event_to_delivery_ms"]
        ps = burst["per_second"]
        lines += [
            "### Webhook deliveries (one worker)",
            "",
            f"{hooks['webhooks']} webhooks of a shared project, each `http://127.0.0.1:<port>/hook/<n>`"
            " on a receiver of its own process (asyncio, HTTP/1.1; every request verified with"
            " `standardwebhooks.Webhook(secret).verify`, its `webhook-id` matched with the"
            " event's id, a 204 when valid, a 400 otherwise); every delivery a new connection"
            " (the worker sends `Connection: close`). The worker:"
            f" `{hooks['worker_command']}` (16 sender threads, at most 4 deliveries of a"
            " webhook in flight).",
            "",
            "| | figure |",
            "| --- | ---: |",
            f"| task writes queued with no worker running (`task_create`, one process) |"
            f" {fmt(burst['writes']['tasks'])} in {fmt(burst['writes']['seconds'])} s |",
            f"| `dispatch` tasks they queued (at most one a second) |"
            f" {fmt(burst['dispatch_tasks_queued_meanwhile'])} |",
            f"| deliveries (events x webhooks) | {fmt(burst['deliveries'])} |",
            f"| worker start to the deliveries made (dispatch starts) |"
            f" {fmt(burst['worker_start_to_deliveries_made_s'])} s |",
            f"| dispatch of the backlog (first to last delivery row made) |"
            f" {fmt(burst['dispatch_seconds'])} s |",
            f"| worker start to the first delivery received |"
            f" {fmt(burst['worker_start_to_first_delivery_s'])} s |",
            f"| first to last delivery received | {fmt(burst['first_to_last_delivery_s'])} s |",
            "| **deliveries/s** (from the first received) |"
            f" **{fmt(burst['deliveries_per_s'])}** |",
            "| deliveries/s from the worker's start |"
            f" {fmt(burst['deliveries_per_s_from_worker_start'])} |",
            f"| deliveries in each whole second: min, median, max |"
            f" {fmt(ps.get('min'))}, {fmt(ps.get('median'))}, {fmt(ps.get('max'))} |",
            f"| an attempt's duration in the worker (connect, POST, answer): p50, p99 |"
            f" {fmt(burst['attempt_ms_p50'])} ms, {fmt(burst['attempt_ms_p99'])} ms |",
            "| CPU from the worker's start to the last delivery: the worker (start-up"
            " included); the receiver; PostgreSQL (the backends on this database); the"
            " machine's two cores in all (other work included), and how busy they were |"
            f" {fmt(burst['cpu']['worker_s'])} s ({fmt(burst['cpu']['worker_ms_per_delivery'])}"
            f" ms a delivery); {fmt(burst['cpu']['receiver_s'])} s;"
            f" {fmt(burst['cpu']['postgres_s'])} s; {fmt(burst['cpu']['machine_busy_s'])} s,"
            f" {fmt(burst['cpu']['machine_busy_share'])} |",
            "| deliveries/s over each tenth of them, in order |"
            f" {', '.join(fmt(value) for value in burst['per_tenth'])} |",
            "",
            ceiling_sentence(burst),
            "",
            f"Steady state, the same worker running: a writer process creating"
            f" {PLAN.steady_rate} tasks/s for {PLAN.steady_seconds} s"
            f" ({fmt(steady['offered_deliveries_per_s'])} deliveries/s offered; it wrote"
            f" {fmt(steady['writes']['tasks'])} at {fmt(steady['writes']['writes_per_s'])}/s,"
            f" {steady['writes']['late_by_more_than_50ms']} writes late by more than 50 ms):"
            f" {fmt(steady['deliveries_per_s'])} deliveries/s received (first to last of"
            f" them); from an event's record to its delivery at the receiver p50 {fmt(lag['p50'])}"
            f" ms, p95 {fmt(lag['p95'])} ms, p99 {fmt(lag['p99'])} ms, max {fmt(lag['max'])} ms;"
            f" the last delivery {fmt(steady['last_delivery_after_last_write_s'])} s after the"
            " last write."
            " Events reach the worker by a `dispatch` task (queued after the commit, at most one"
            " a second) or its own look every second: the delay is mostly that second.",
            "",
            "Checked in the database and at the receiver: "
            + "; ".join(
                f"{name}: {'consistent' if check['consistent'] else '**NOT consistent**'}"
                f" ({check['deliveries']:,} deliveries of {check['events']:,} events, "
                f"{check['succeeded']:,} succeeded, {check['attempts_logged']:,} attempts logged,"
                f" {check['received_valid']:,} received valid)"
                for name, check in (
                    ("burst", burst["check"]),
                    ("steady state", steady["check"]),
                    ("both", hooks["check_all"]),
                )
            )
            + f". Invalid requests at the receiver: {hooks['receiver']['invalid']}, duplicates:"
            f" {hooks['receiver']['duplicates']}.",
            "",
        ]
    write = results.get("write")
    if write:
        lines += [
            "### A task write with 10 webhooks",
            "",
            f"`POST /api/v1/tasks/` as `make bench`'s `create` (bench/wrk/create.lua) against"
            f" `{results['server']}`, by a member whose personal project has 10 webhooks,"
            " inactive (`no_webhook`: no active webhook in the database, so none in the write"
            " path) or active (`10_webhooks`), switched in the database and then"
            f" {INTEREST_TTL + 1:.0f} s waited (each process re-reads which projects have"
            f" webhooks every {INTEREST_TTL:.0f} s). No worker runs, so that its CPU does not"
            " compete: a write with webhooks does its part (after the commit, a Redis `SET NX`"
            " and, at most once a second, a `dispatch` task row) and the dispatch tasks wait in"
            " the table. The sides alternate"
            f" ({PLAN.write_rounds} rounds, {PLAN.write_warmup} s warm-up then"
            f" {PLAN.write_duration} s measured per run), at 64 connections (2 wrk threads) and"
            " at 1 (a write's own latency).",
            "",
            "| load | side | requests/s (mean) | p50 ms (mean) | p99 ms (mean)"
            " | per round: req/s; p50; p99 | dispatch tasks queued |",
            "| --- | --- | ---: | ---: | ---: | --- | ---: |",
        ]
        for load, _connections, _threads in WRITE_LOADS:
            summary = write["summary"][load]
            for side in SIDES:
                mine = [r for r in write["runs"] if r["load"] == load and r["side"] == side]
                lines.append(
                    f"| {load} | {side} | {fmt(summary[side]['rps'])} |"
                    f" {fmt(summary[side]['p50_ms'])} | {fmt(summary[side]['p99_ms'])} |"
                    f" {', '.join(fmt(r['rps']) for r in mine)};"
                    f" {', '.join(fmt(r['p50_ms']) for r in mine)};"
                    f" {', '.join(fmt(r['p99_ms']) for r in mine)} |"
                    f" {', '.join(str(r['check']['dispatch_tasks_queued']) for r in mine)} |"
                )
        lines += [
            "",
            "Added by the webhooks (each round's ratio of its two sides, the median of the"
            " rounds): "
            + "; ".join(
                f"{load}: p50 {write['summary'][load]['added_p50']:+.1%}, p99"
                f" {write['summary'][load]['added_p99']:+.1%}, requests/s"
                f" {write['summary'][load]['rps_change']:+.1%}"
                for load, _c, _t in WRITE_LOADS
            )
            + ". Commands: "
            + "; ".join(
                f"`{next(r['command'] for r in write['runs'] if r['load'] == load)}`"
                for load, _c, _t in WRITE_LOADS
            )
            + ".",
            "",
            in_process_paragraph(write["in_process"]),
            "",
        ]
    sync = results.get("sync")
    if sync and "skipped" in sync:
        lines += ["### Sync", "", f"Not measured: {sync['skipped']}.", ""]
    elif sync:
        lines += [
            f"### Sync of {sync['changes_expected']:,} changes",
            "",
            f"A member's cursor (an empty snapshot: {sync['cursor_pages']} page), then"
            f" {fmt(sync['writes']['tasks'])} tasks created after it (`task_create`, one"
            f" transaction each, {fmt(sync['writes']['seconds'])} s). A client process"
            f" (`requests.Session`) pages `GET {SYNC_PATH}?cursor=<that cursor>` (`changes`)"
            f" or `GET {SYNC_PATH}` (`snapshot`: the personal project and the same tasks)"
            " until `has_more` is false, reading the RSS of gunicorn's 2 workers (/proc) after"
            " each page; a warm-up pass of each kind, then"
            f" {PLAN.sync_passes} measured passes of each, the kinds alternating. gunicorn as"
            " above (sync workers: a new connection per page).",
            "",
            "| sync | pass | pages | changes | seconds | pages/s | changes/s | page p50 ms"
            " | page p99 ms | workers' RSS MB after the first page | after the last page |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for kind, runs in sync["passes"].items():
            labelled = [("warm-up", sync["warmup"][kind]), *enumerate(runs, 1)]
            for number, figures in labelled:
                lines.append(
                    f"| {kind} | {number} | {figures['pages']} | {fmt(figures['changes'])} |"
                    f" {fmt(figures['seconds'])} | {fmt(figures['pages_per_s'])} |"
                    f" {fmt(figures['changes_per_s'])} | {fmt(figures['page_ms_p50'])} |"
                    f" {fmt(figures['page_ms_p99'])} |"
                    f" {memory_text(figures['rss_mb_after_first_page'] or {})} |"
                    f" {memory_text(figures['rss_mb_after_last_page'] or {})} |"
                )
        memory = sync["memory"]
        lines += [
            "",
            "gunicorn's workers' RSS (MB, one figure per worker): before the sync passes"
            f" {memory_text(memory['before'])}; after each round (the warm-up first): "
            + "; ".join(memory_text(values) for values in memory["after_round"])
            + ". Added by each round: "
            + "; ".join(memory_text(values) for values in memory["added_by_round"])
            + f"; the highest after any page: {memory_text(memory['peak'])}"
            + (
                f" (flat: the last round, which synced {fmt(sync['changes_expected'] * 2 + 1)}"
                f" objects, added no worker more than {FLAT_MB:g} MB)."
                if memory["flat"]
                else f" (**not flat**: the last round, which synced"
                f" {fmt(sync['changes_expected'] * 2 + 1)} objects, added more than"
                f" {FLAT_MB:g} MB to a worker)."
            )
            + " A worker's heap reaches its working size over its first"
            " hundred pages or so and then stays; memory that grew with what is synced would"
            " grow by as much every round.",
            "",
            "In process (Django's test client, tracemalloc on after a first pass; after"
            " each page a garbage collection, so that what is held is what is retained): "
            + "; ".join(
                f"`{kind}` ({t['pages']} pages) held {fmt(t['held_mb_after_first_page'])} MB of"
                f" Python memory after its first page and {fmt(t['held_mb_after_last_page'])} MB"
                f" after its last ({t['held_growth_mb']:+} MB; at most"
                f" {fmt(t['held_mb_max'])} MB), a page peaking at {fmt(t['page_peak_mb_median'])}"
                f" MB (median; highest {fmt(t['page_peak_mb_max'])} MB) and leaving up to"
                f" {fmt(t['before_collection_mb_max'])} MB to the cycle collector"
                for kind, t in sync["traced"].items()
            )
            + f". Flat: at most {FLAT_TRACED_MB:g} MB more after the last page than after the"
            " first.",
            "",
        ]
    lines += [
        "| target | figures | met |",
        "| --- | --- | --- |",
    ]
    for row in results["targets"]:
        met = {True: "met", False: "**not met**", None: "not judged"}[row["met"]]
        lines.append(f"| {row['target']} | {row['figures']} | {met} |")
    lines += ["", MARKERS[1], ""]
    return "\n".join(lines)


def ceiling_sentence(burst: dict[str, Any]) -> str:
    """What the worker's own CPU allows: its Python threads share one core (the GIL)."""
    per_delivery = burst["cpu"]["worker_ms_per_delivery"]
    if not per_delivery:
        return ""
    return (
        f"The worker spent {fmt(per_delivery)} ms of CPU a delivery (its start-up and the"
        " dispatch included): its threads share one core (Python's GIL), so one worker"
        f" process, even with a core to itself, delivers at most about"
        f" {fmt(round(1000 / per_delivery))} a second; the machine's cores were"
        f" {fmt(burst['cpu']['machine_busy_share'])} busy meanwhile, the worker's share"
        f" {fmt(burst['cpu']['worker_s'])} s of {fmt(burst['cpu']['machine_busy_s'])} s."
    )


def in_process_paragraph(in_process: dict[str, Any]) -> str:
    figures = in_process["summary"]
    plain, hooked = figures["no_webhook"], figures["10_webhooks"]
    blocks = [block for block in in_process["blocks"] if block["side"] == "no_webhook"]
    return (
        "The same write in one process, without HTTP and with nothing else of the bench"
        " running (`POST /api/v1/tasks/` through Django's test client: the middleware, the"
        " view, the transaction and the after-commit work), the sides alternating every"
        f" {PLAN.write_block} writes ({len(blocks)} blocks a side; the webhooks switched in"
        " the database, the process's view of them dropped at once): a write takes"
        f" {fmt(plain['wall_ms'])} ms ({fmt(plain['cpu_ms'])} ms of the process's CPU) with"
        f" no webhook and {fmt(hooked['wall_ms'])} ms ({fmt(hooked['cpu_ms'])} ms) with 10"
        f" (medians of the blocks): {figures['added_wall']:+.1%} wall,"
        f" {figures['added_cpu']:+.1%} CPU. CPU time is what other load on the machine"
        " changes least. What the webhooks add, alone: the outbox's subscriber"
        " (`webhooks.services.on_events`, after the commit) takes"
        f" {fmt(figures['on_events']['no_webhook']['wall_us'])} µs"
        f" ({fmt(figures['on_events']['no_webhook']['cpu_us'])} µs CPU) a write with no"
        f" webhook, {fmt(figures['on_events']['10_webhooks']['wall_us'])} µs"
        f" ({fmt(figures['on_events']['10_webhooks']['cpu_us'])} µs CPU) with 10: a Redis"
        " `SET NX` a write and, at most once a second, a `dispatch` task row (mean of"
        f" {fmt(figures['on_events_calls'])} calls a side), against the"
        f" {fmt(plain['wall_ms'])} ms of the write."
    )


def memory_text(values: Mapping[str, Any]) -> str:
    return ", ".join(fmt(value) for value in values.values()) or "-"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in CHILDREN:
        return CHILDREN[sys.argv[1]](sys.argv[2:])
    if not ready_for_load("bench/integrations.py"):
        return 2
    started = time.monotonic()
    log(f"{'smoke' if QUICK else 'full'} run")
    with workspace("integrations") as work:
        results = run(work)
    results["run"]["seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = targets(results)
    PLAN.output.mkdir(parents=True, exist_ok=True)
    (PLAN.output / "integrations.json").write_text(json.dumps(results, indent=2) + "\n")
    write_results_md(PLAN.output / "RESULTS.md", markdown(results), MARKERS)
    log(f"wrote {(PLAN.output / 'RESULTS.md').relative_to(ROOT)} and integrations.json")
    for row in results["targets"]:
        met = {True: "met    ", False: "NOT MET", None: "n/a    "}[row["met"]]
        log(f"  {met} {row['target']}: {row['figures']}")
    failed = [row for row in results["targets"] if row["check"] and row["met"] is False]
    if failed:
        log(f"{len(failed)} consistency check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
