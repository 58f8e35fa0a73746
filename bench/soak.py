"""`make soak`: ten minutes of the mixed benchmark load, for errors and memory growth.

Sets up as `make bench` does (bench/run.py: a fresh PostgreSQL database and Redis
key prefixes, the seed, gunicorn with 2 workers and daphne as scripts/serve starts
them), then runs every load at once for BENCH_SOAK_SECONDS (600):

- wrk, one process per scenario of `make bench`: the task list, task details,
  statistics, creates and If-Match PATCHes, 14 connections in all (two per wrk
  process at least, one per thread), each sending its next request when the last
  is answered: the two workers at saturation for the whole run. (Pacing with wrk's
  delay() would hold sync workers on idle connections: wrk reconnects at once, then
  waits; bench/paced.py says more.)
- bench/ws_fanout.py: 100 sockets of the updated tasks' owner on daphne while 10
  title updates/s go through the API, each socket checked for every event.

It samples the servers' resident memory every 5 s and judges (issue 9): zero errors
(wrk's, the updater's, missed deliveries, ERROR records in the servers' logs, writes
without their event) and growth under 10 % from the end of the first minute (the
warm-up) to the end. The figures go to bench/soak.json and to their own section of
bench/RESULTS.md; a shorter run (BENCH_SOAK_SECONDS below 600) writes to bench/out/.
"""

import json
import os
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    APP,
    BENCH,
    ROOT,
    MemoryWatch,
    Server,
    app_env,
    check_creates,
    check_patches,
    child_pids,
    gunicorn_command,
    log,
    machine,
    measure,
    migrate_and_seed,
    pg_connect,
    port_of,
    ready_for_load,
    rss_mb,
    settled_counts,
    shorten,
    socket_command,
    start_app,
    versions,
    websocket_fanout,
    workspace,
    write_results_md,
    wrk_command,
)

SECONDS = int(os.environ.get("BENCH_SOAK_SECONDS", "600"))
FULL = SECONDS >= 600
WARMUP = max(10, min(60, SECONDS // 10))  # memory is judged from the end of this
WINDOW = max(10, min(30, SECONDS // 20))  # seconds of samples whose median is one reading
SAMPLE_EVERY = 5
GROWTH_LIMIT_PCT = 10.0
OUTPUT = BENCH if FULL else BENCH / "out"
MARKERS = ("<!-- bench/soak.py: start -->", "<!-- bench/soak.py: end -->")
WS_SOCKETS = 100
WS_RATE = 10


@dataclass(frozen=True)
class Load:
    name: str
    script: str
    token: str
    connections: int


MIX = (
    Load("list", "get.lua", "reader", 4),
    Load("detail", "get.lua", "reader", 4),
    Load("statistics", "get.lua", "reader", 2),
    Load("create", "create.lua", "creator", 2),
    Load("patch", "patch.lua", "patcher", 2),
)


@dataclass
class Samples:
    """Resident memory of every server process, by pid, every few seconds."""

    servers: dict[str, Server]
    rows: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def take(self, started: float) -> None:
        figures: dict[str, float] = {}
        for name, server in self.servers.items():
            pids = [server.process.pid]
            if name == "gunicorn":
                pids += child_pids(server.process.pid)
            for pid in pids:
                value = rss_mb(pid)
                if value is not None:
                    role = name if pid == server.process.pid else "gunicorn worker"
                    figures[f"{role} {pid}" if name == "gunicorn" else name] = value
        self.rows.append((round(time.monotonic() - started, 1), figures))

    def run(self, started: float) -> threading.Thread:
        def loop() -> None:
            while True:
                self.take(started)
                if self._stop.wait(SAMPLE_EVERY):
                    return

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def reading(self, name: str, start: float, end: float) -> float | None:
        values = [row[name] for t, row in self.rows if start <= t < end and name in row]
        return round(statistics.median(values), 1) if values else None

    def growth(self, total: float) -> dict[str, dict[str, Any]]:
        """For each process: the median over the window after the warm-up, over the
        last window, and the growth between them."""
        names = sorted({name for _, row in self.rows for name in row})
        figures: dict[str, dict[str, Any]] = {}
        for name in names:
            after_warmup = self.reading(name, WARMUP, WARMUP + WINDOW)
            at_end = self.reading(name, total - WINDOW, total + SAMPLE_EVERY)
            peak = max(row[name] for _, row in self.rows if name in row)
            pct = (
                round((at_end / after_warmup - 1) * 100, 1)
                if after_warmup and at_end is not None
                else None
            )
            figures[name] = {
                "after_warmup_mb": after_warmup,
                "at_end_mb": at_end,
                "peak_mb": peak,
                "growth_pct": pct,
            }
        return figures


def error_records(server: Server) -> int:
    """ERROR and CRITICAL records (and bare tracebacks) in a server's log."""
    text = server.log_path.read_text(errors="replace")
    records = len(re.findall(r'"level": "(?:ERROR|CRITICAL)"', text))
    return records + text.count("Traceback (most recent call last)")


def main() -> int:
    if not ready_for_load("make soak"):
        return 2
    log(f"soak for {SECONDS} s")
    with workspace("soak") as work:
        results = soak(work.database_url, work.prefix, work.run_dir, work.servers)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    write_results_md(OUTPUT / "RESULTS.md", markdown(results), MARKERS)
    log(f"wrote {(OUTPUT / 'RESULTS.md').relative_to(ROOT)} and soak.json")
    for row in results["verdict"]:
        log(f"  {'met    ' if row['met'] else 'NOT MET'} {row['target']}: {row['figures']}")
    return 0 if all(row["met"] for row in results["verdict"]) else 1


def soak(database_url: str, prefix: str, run_dir: Path, servers: list[Server]) -> dict[str, Any]:
    env = app_env(database_url, prefix, run_dir, "WARNING")
    results: dict[str, Any] = {
        "run": {
            "command": "make soak" if FULL else f"BENCH_SOAK_SECONDS={SECONDS} make soak",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": SECONDS,
            "warmup_seconds": WARMUP,
        },
        "machine": machine(),
        "versions": versions(database_url),
    }
    seeded = migrate_and_seed(env, managers=1)
    gunicorn, daphne = start_app(env, run_dir, servers)
    http_port, ws_port = port_of(gunicorn), port_of(daphne)
    results["servers"] = [
        " ".join(shorten(p) for p in gunicorn_command(APP, http_port)),
        " ".join(shorten(p) for p in socket_command(ws_port)),
    ]

    conn = pg_connect(database_url.rsplit("/", 1)[1])
    users = seeded["users"]
    before = {
        "create": settled_counts(conn, users["creator"]),
        "patch": settled_counts(conn, users["patcher"]),
    }
    paths = {
        "list": "/api/v1/tasks/",
        "detail": ",".join(f"/api/v1/tasks/{i}/" for i in seeded["tasks"]["reader"]),
        "statistics": "/api/v1/tasks/statistics/",
    }
    patch_tasks = ",".join(f"{task}:1" for task in seeded["tasks"]["patcher"])

    def drive(load: Load) -> Any:
        extra: dict[str, str] = {}
        if load.name in paths:
            extra = {"BENCH_PATHS": paths[load.name]}
        elif load.name == "patch":
            extra = {"BENCH_TASKS": patch_tasks}
        return measure(
            f"soak-{load.name}",
            wrk_command(load.script, gunicorn.base_url, load.connections),
            {**extra, "BENCH_TOKEN": seeded["tokens"][load.token]},
            duration=SECONDS,
            warmup=0,
            run_dir=run_dir,
            shown_env=f"BENCH_TOKEN=<{load.token} access token>",
        )

    samples = Samples({"gunicorn": gunicorn, "daphne": daphne})
    started = time.monotonic()
    sampler = samples.run(started)
    log(
        f"mixed load for {SECONDS} s: {sum(load.connections for load in MIX)} connections,"
        f" {WS_SOCKETS} sockets, {WS_RATE} updates/s"
    )
    with ThreadPoolExecutor(len(MIX) + 1) as pool:
        socket_run = pool.submit(
            websocket_fanout,
            daphne,
            gunicorn,
            seeded,
            run_dir,
            MemoryWatch(),
            WS_RATE,
            sockets=WS_SOCKETS,
            seconds=SECONDS,
            drain=60,
            tokens=[seeded["tokens"]["fanout"]],
        )
        loads = {load.name: pool.submit(drive, load) for load in MIX}
        measured = {name: future.result() for name, future in loads.items()}
        total = time.monotonic() - started
        samples.take(started)
        sockets = socket_run.result()
    samples.stop()
    sampler.join()
    log("load done; checking writes and logs")
    writes = {
        "create": check_creates(
            conn, users["creator"], before["create"], measured["create"].extra["ok_2xx"]
        ),
        "patch": check_patches(
            conn, users["patcher"], before["patch"], measured["patch"].extra["ok_2xx"]
        ),
    }
    conn.close()

    results["http"] = {
        load.name: {
            **measured[load.name].figures(None),
            "connections": load.connections,
        }
        for load in MIX
    }
    results["writes"] = writes
    results["websocket"] = sockets
    results["server_error_records"] = {
        server.name: error_records(server) for server in (gunicorn, daphne)
    }
    results["memory"] = samples.growth(total)
    results["memory_samples"] = [{"t": t, **row} for t, row in samples.rows]
    results["verdict"] = verdict(results)
    return results


def verdict(results: dict[str, Any]) -> list[dict[str, Any]]:
    http_errors = sum(figures["errors"] for figures in results["http"].values())
    requests_total = sum(figures["requests"] for figures in results["http"].values())
    ws = results["websocket"]
    updates = ws["updates"]
    missed = ws["expected_deliveries"] - ws["delivered"]
    failed_updates = updates["sent"] - updates["acknowledged_2xx"]
    logged = sum(results["server_error_records"].values())
    inconsistent = [name for name, check in results["writes"].items() if not check["consistent"]]
    growth = {
        name: figures["growth_pct"]
        for name, figures in results["memory"].items()
        if figures["growth_pct"] is not None
    }
    worst = max(growth, key=lambda name: growth[name]) if growth else None
    return [
        {
            "target": "zero errors",
            "met": http_errors == 0
            and missed == 0
            and failed_updates == 0
            and logged == 0
            and not inconsistent
            and ws["sockets"] == WS_SOCKETS
            and not ws["closed_by_server"],
            "figures": (
                f"{http_errors} HTTP errors in {requests_total:,} requests;"
                f" {failed_updates} failed of {updates['sent']:,} updates;"
                f" {missed} of {ws['expected_deliveries']:,} deliveries missed on"
                f" {ws['sockets']} sockets, {sum(ws['closed_by_server'].values())} closed by"
                f" the server; {logged} ERROR records in the servers' logs;"
                f" writes without their event: {', '.join(inconsistent) or 'none'}"
            ),
        },
        {
            "target": f"resident memory grows < {GROWTH_LIMIT_PCT:.0f} % after the warm-up",
            "met": bool(growth) and all(pct < GROWTH_LIMIT_PCT for pct in growth.values()),
            "figures": (f"largest growth {growth[worst]} % ({worst})" if worst else "no samples"),
        },
    ]


def markdown(results: dict[str, Any]) -> str:
    run = results["run"]
    versions_text = ", ".join(f"{key} {value}" for key, value in results["versions"].items())
    lines = [
        MARKERS[0],
        "",
        "## Soak (issue 9)",
        "",
        f"`{run['command']}` on {run['date']}: {run['seconds']} s of every load below at"
        f" once; memory judged from the end of the first {run['warmup_seconds']} s (the"
        " warm-up) to the end, each reading the median of the samples (every"
        f" {SAMPLE_EVERY} s) in {WINDOW} s. Machine: {results['machine']['cpu']},"
        f" {results['machine']['cores']} cores. Versions: {versions_text}.",
        "",
        "Servers: " + "; ".join(f"`{command}`" for command in results["servers"]) + ".",
        "",
        "| load | connections | req/s | p50 ms | p99 ms | max ms | requests | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, figures in results["http"].items():
        lines.append(
            f"| {name} | {figures['connections']} | {figures['rps']}"
            f" | {figures['p50_ms']} | {figures['p99_ms']} | {figures['max_ms']} |"
            f" {figures['requests']:,} | {figures['errors']} |"
        )
    ws = results["websocket"]
    lines += [
        "",
        f"WebSocket: {ws['sockets']} sockets, {ws['updates']['sent']:,} updates"
        f" ({ws['updates']['acknowledged_2xx']:,} acknowledged), {ws['delivered']:,} of"
        f" {ws['expected_deliveries']:,} deliveries, latency p50 {ws['latency_ms']['p50']} ms,"
        f" p99 {ws['latency_ms']['p99']} ms, closed by the server: {ws['closed_by_server'] or 0}.",
        "",
        "Writes: "
        + "; ".join(f"{name}: {json.dumps(check)}" for name, check in results["writes"].items())
        + ".",
        "",
        f"ERROR records in the servers' logs: {results['server_error_records']}.",
        "",
        "| process | RSS after warm-up MB | RSS at end MB | peak MB | growth % |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, figures in results["memory"].items():
        lines.append(
            f"| {name} | {figures['after_warmup_mb']} | {figures['at_end_mb']} |"
            f" {figures['peak_mb']} | {figures['growth_pct']} |"
        )
    lines += ["", "| target | figures | |", "| --- | --- | --- |"]
    for row in results["verdict"]:
        lines.append(
            f"| {row['target']} | {row['figures']} | {'met' if row['met'] else '**not met**'} |"
        )
    lines += ["", "The samples are in `soak.json` (`memory_samples`).", "", MARKERS[1], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
