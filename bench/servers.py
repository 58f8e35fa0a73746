"""`make bench-servers`: which WSGI server runs the API (issue 8).

The same application and seed measured under each candidate, one after the other,
with three loads of `make bench`: the task list at saturation (a), PATCH with
If-Match at saturation (d) and the constant-rate list (f). Candidates: gunicorn sync
workers, two per core (what scripts/serve and the Docker image run), gunicorn gthread
workers, 2 sync workers, and granian's WSGI mode. The first candidate is measured again
at the end, and the bare DRF ceiling of `make bench` (bench/baseline/) at the start
and at the end, so the drift of the machine during the run shows.

Sets up as `make bench` does (a fresh PostgreSQL database and Redis key prefixes,
removed afterwards; bench/seed.py) and writes its own section of bench/RESULTS.md and
bench/servers.json. Needs wrk; granian is in requirements-dev.txt (the application
does not use it). BENCH_QUICK=1 is a smoke run of a few seconds per load, whose
report goes to bench/out/. Not part of CI.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    APP,
    BIN,
    CONNECTIONS,
    HEALTH,
    PLAN,
    ROOT,
    WEB_WORKERS,
    Measured,
    Server,
    app_env,
    child_pids,
    free_port,
    gunicorn_command,
    log,
    machine,
    measure,
    migrate_and_seed,
    paced_command,
    pg_connect,
    ready_for_load,
    rss_mb,
    shorten,
    start_server,
    stop_server,
    versions,
    workspace,
    write_results_md,
    wrk_command,
)

# A run of chosen servers (BENCH_SERVERS) has a section and a JSON file of its own.
CHOSEN = os.environ.get("BENCH_SERVERS", "")
_SECTION = f" ({CHOSEN})" if CHOSEN else ""
MARKERS = (
    f"<!-- bench/servers.py{_SECTION}: start -->",
    f"<!-- bench/servers.py{_SECTION}: end -->",
)
JSON_NAME = f"servers-{CHOSEN.replace(',', '-')}.json" if CHOSEN else "servers.json"


@dataclass(frozen=True)
class Candidate:
    name: str
    what: str
    command: Callable[[int], list[str]]


def gunicorn_with(*options: str) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        base = gunicorn_command(APP, port)
        if "--workers" in options:  # replaces the production count
            at = base.index("--workers")
            del base[at : at + 2]
        return [*base, *options]

    return command


def granian(port: int) -> list[str]:
    return [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        APP,
    ]


def make_serve(port: int) -> list[str]:
    """scripts/serve: nginx on `port` in front of gunicorn and the socket process."""
    return [
        "/usr/bin/env",
        "HOST=127.0.0.1",
        f"PORT={port}",
        f"WS_PORT={free_port()}",
        f"BIN={BIN}",
        str(ROOT / "scripts" / "serve"),
    ]


CANDIDATES = (
    Candidate(
        "gunicorn_sync", f"gunicorn, {WEB_WORKERS} sync workers (production)", gunicorn_with()
    ),
    Candidate(
        "make_serve",
        f"nginx in front of gunicorn, {WEB_WORKERS} sync workers (make serve)",
        make_serve,
    ),
    Candidate(
        "gunicorn_gthread_2x4",
        "gunicorn, 2 gthread workers of 4 threads",
        gunicorn_with("--workers", "2", "--threads", "4"),
    ),
    Candidate("gunicorn_sync_2", "gunicorn, 2 sync workers", gunicorn_with("--workers", "2")),
    Candidate("granian_wsgi_2", "granian 2.8 WSGI, 2 workers", granian),
)
LOADS = ("list", "patch", "seed_rate")
# BENCH_SERVERS=gunicorn_sync,make_serve measures only those, BENCH_ROUNDS times in
# turn (interleaved, so the machine's drift falls on each alike); by default every
# candidate once and the first again at the end.
SELECTED = tuple(
    candidate
    for candidate in CANDIDATES
    if candidate.name in os.environ.get("BENCH_SERVERS", candidate.name).split(",")
)
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1"))


def main() -> int:
    if not ready_for_load("make bench-servers"):
        return 2
    with workspace("servers") as work:
        results = compare(work.database_url, work.prefix, work.run_dir, work.servers)
    PLAN.output.mkdir(parents=True, exist_ok=True)
    (PLAN.output / JSON_NAME).write_text(json.dumps(results, indent=2) + "\n")
    write_results_md(PLAN.output / "RESULTS.md", markdown(results), MARKERS)
    log(f"wrote {(PLAN.output / 'RESULTS.md').relative_to(ROOT)} (its servers section)")
    return 0


def compare(database_url: str, prefix: str, run_dir: Path, servers: list[Server]) -> dict[str, Any]:
    env = app_env(database_url, prefix, run_dir, "WARNING")
    results: dict[str, Any] = {
        "run": {
            "command": " ".join(
                [
                    *(
                        f"{k}={os.environ[k]}"
                        for k in ("BENCH_QUICK", "BENCH_SERVERS", "BENCH_ROUNDS")
                        if k in os.environ
                    ),
                    "make bench-servers",
                ]
            ),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        },
        "machine": machine(),
        "versions": versions(database_url) | {"granian": _version(BIN / "granian", "--version")},
    }
    seeded = migrate_and_seed(env, managers=1)
    tokens, users = seeded["tokens"], seeded["users"]
    conn = pg_connect(database_url.rsplit("/", 1)[1])

    def run_load(load: str, url: str, label: str) -> Measured:
        name = f"{label}-{load}"
        if load == "list":
            return measure(
                name,
                wrk_command("get.lua", url, CONNECTIONS),
                {"BENCH_TOKEN": tokens["reader"], "BENCH_PATHS": "/api/v1/tasks/"},
                duration=PLAN.duration,
                warmup=PLAN.warmup,
                run_dir=run_dir,
            )
        if load == "patch":
            return measure(
                name,
                wrk_command("patch.lua", url, CONNECTIONS),
                {"BENCH_TOKEN": tokens["patcher"], "BENCH_TASKS": versions_of(users["patcher"])},
                duration=PLAN.duration,
                warmup=PLAN.warmup,
                run_dir=run_dir,
                after_warmup=lambda: {"BENCH_TASKS": versions_of(users["patcher"])},
            )
        return measure(
            name,
            paced_command(url + "/api/v1/tasks/", PLAN.warmup),
            {"BENCH_TOKEN": tokens["reader"]},
            duration=PLAN.paced_duration,
            warmup=0,
            run_dir=run_dir,
        )

    def versions_of(owner: int) -> str:
        rows = conn.execute(
            "SELECT id, version FROM tasks_task WHERE owner_id = %s ORDER BY id", (owner,)
        ).fetchall()
        return ",".join(f"{task}:{version}" for task, version in rows)

    log("baseline")
    results["baseline_rps"] = {"start": baseline(env, run_dir, servers).rps}
    log(f"  {results['baseline_rps']['start']} rps")

    runs: list[dict[str, Any]] = []
    if ROUNDS > 1:
        sequence = [
            (f"{candidate.name}_round{round_}", candidate)
            for round_ in range(1, ROUNDS + 1)
            for candidate in SELECTED
        ]
    else:
        sequence = [(candidate.name, candidate) for candidate in SELECTED]
        sequence.append((f"{SELECTED[0].name}_again", SELECTED[0]))
    for label, candidate in sequence:
        log(label)
        port = free_port()
        server_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(run_dir / f"prometheus-{label}")}
        Path(server_env["PROMETHEUS_MULTIPROC_DIR"]).mkdir()
        server = start_server(label, candidate.command(port), server_env, run_dir, port, HEALTH)
        servers.append(server)
        try:
            figures: dict[str, Any] = {}
            for load in LOADS:
                measured = run_load(load, server.base_url, label)
                figures[load] = {
                    "rps": measured.rps,
                    "p50_ms": measured.p50_ms,
                    "p95_ms": measured.p95_ms,
                    "p99_ms": measured.p99_ms,
                    "errors": measured.errors,
                }
                log(
                    f"  {load}: {measured.rps} rps, p50 {measured.p50_ms}, p95"
                    f" {measured.p95_ms}, p99 {measured.p99_ms} ms, {measured.errors} errors"
                )
            workers = [rss_mb(pid) for pid in child_pids(server.process.pid)]
            runs.append(
                {
                    "name": label,
                    "what": candidate.what,
                    "command": " ".join(shorten(part) for part in candidate.command(port)),
                    "loads": figures,
                    "worker_rss_mb": sorted(value for value in workers if value is not None),
                }
            )
        finally:
            stop_server(server)
            servers.remove(server)
    results["candidates"] = runs
    log("baseline again")
    results["baseline_rps"]["end"] = baseline(env, run_dir, servers).rps
    log(f"  {results['baseline_rps']['end']} rps")
    return results


def baseline(env: dict[str, str], run_dir: Path, servers: list[Server]) -> Measured:
    port = free_port()
    baseline_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.baseline.settings"}
    command = gunicorn_command("bench.baseline.wsgi:application", port)
    server = start_server("baseline", command, baseline_env, run_dir, port, "/tasks/")
    servers.append(server)
    try:
        return measure(
            "baseline",
            wrk_command("get.lua", server.base_url, CONNECTIONS),
            {"BENCH_PATHS": "/tasks/"},
            duration=PLAN.duration,
            warmup=PLAN.warmup,
            run_dir=run_dir,
        )
    finally:
        stop_server(server)
        servers.remove(server)


def _version(*command: Path | str) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    return done.stdout.strip().split()[-1] if done.returncode == 0 else "unknown"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        MARKERS[0],
        "",
        f"## make bench-servers{_SECTION}: the WSGI server"
        + (" behind its front (issue 20)" if CHOSEN else " (issue 8)"),
        "",
        f"Run: `{results['run']['command']}` on {results['run']['date']}. Machine:"
        f" {results['machine']['cpu']}, {results['machine']['cores']} cores; gunicorn"
        f" {results['versions']['gunicorn']}, granian {results['versions']['granian']}."
        " The settings of `make bench`; the candidates one after the other on one seeded"
        " database, the first again at the end. The ceiling (bare DRF, gunicorn sync, 2"
        f" workers) gave {results['baseline_rps']['start']} requests/s at the start and"
        f" {results['baseline_rps']['end']} at the end. list and PATCH: 64 connections at"
        " saturation; (f): 150 requests/s from 300 clients.",
        "",
        "| server | list rps | list p99 ms | PATCH rps | PATCH p99 ms"
        " | (f) p50 / p95 / p99 ms | errors | worker RSS MB after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in results["candidates"]:
        loads = run["loads"]
        listing, patch, paced = loads["list"], loads["patch"], loads["seed_rate"]
        errors = sum(figures["errors"] for figures in loads.values())
        what = run["what"]
        if run["name"].endswith("_again"):
            what += ", again"
        elif "_round" in run["name"]:
            what += f", round {run['name'].rsplit('_round', 1)[1]}"
        lines.append(
            f"| {what} | {listing['rps']:,.0f} | {listing['p99_ms']} | {patch['rps']:,.0f}"
            f" | {patch['p99_ms']} | {paced['p50_ms']} / {paced['p95_ms']} / {paced['p99_ms']}"
            f" | {errors} | {', '.join(f'{value:g}' for value in run['worker_rss_mb'])} |"
        )
    lines += ["", "Commands:", ""]
    lines += list(dict.fromkeys(f"- `{run['command']}`" for run in results["candidates"]))
    lines += ["", MARKERS[1], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
