"""Two checkouts under the same load, in turn: requests a second and the CPU each
request cost the gunicorn workers, PostgreSQL and Redis (from /proc, load included).

    .venv/bin/python bench/side_by_side.py OTHER_TREE [--rounds 3] [--seconds 8]
        [--scenarios list_uncached,list_projects_uncached,statistics_uncached,list,create,patch]

OTHER_TREE is another checkout of the project (`git archive <commit> | tar -x -C dir`,
with `.venv` linked to this one's). Both run against one database, migrated and
seeded by this checkout as `make bench` seeds it (and 20 shared projects of 10,000
tasks when a `list_projects` scenario is asked for), so a change of the schema is not
compared here. Each round runs every scenario on the other tree, then on this one:
the machine's speed drifts by 15-30 % within an hour, and alternating shows it.
"""

import argparse
import contextlib
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run

LIST = "/api/v1/tasks/"
SCENARIOS = {
    # name: (the seeded account, wrk script, its environment)
    "list": ("reader", "get.lua", {"BENCH_PATHS": LIST}),
    "list_uncached": ("reader", "get.lua", {"BENCH_PATHS": LIST, "BENCH_BUST": "1"}),
    "list_projects": ("projects_reader", "get.lua", {"BENCH_PATHS": LIST}),
    "list_projects_uncached": (
        "projects_reader",
        "get.lua",
        {"BENCH_PATHS": LIST, "BENCH_BUST": "1"},
    ),
    "statistics_uncached": (
        "reader",
        "get.lua",
        {"BENCH_PATHS": "/api/v1/tasks/statistics/", "BENCH_BUST": "1"},
    ),
    "create": ("creator", "create.lua", {}),
    # BENCH_TASKS: the tasks' current versions, read before each run and its warm-up.
    "patch": ("patcher", "patch.lua", {}),
}


def pids_of(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def cpu(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # ended meanwhile
            found[pid] = run.cpu_seconds(pid)
    return found


def processes_cpu(workers: list[int]) -> list[dict[int, float]]:
    """The CPU seconds of each process: the workers, PostgreSQL's, Redis."""
    return [cpu(workers), cpu(pids_of("postgres:")), cpu(pids_of("redis-server"))]


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    # A process started meanwhile (a connection of the pool) counts from zero.
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("other", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--scenarios", default="list_uncached,list_projects_uncached")
    args = parser.parse_args()
    names = args.scenarios.split(",")
    trees = [args.other.resolve(), run.ROOT]
    warmup = 2
    with run.workspace("side-by-side") as ws:
        env = run.app_env(ws.database_url, ws.prefix, ws.run_dir, "WARNING")
        seeded = run.migrate_and_seed(env, 2, project_listeners=2)
        conn = run.pg_connect(ws.database_url.rsplit("/", 1)[1])
        if any(name.startswith("list_projects") for name in names):
            run.fill_shared_projects(conn, seeded["users"]["projects_reader"], 20, 10_000)
        else:
            # As make bench's seeds leave them: PostgreSQL here runs without autovacuum,
            # and plans made on no statistics are guesses (bench/RESULTS.md, "A plan
            # made on no statistics").
            run.analyze_seeded(conn)

        def versions() -> dict[str, str]:
            rows = conn.execute(
                "SELECT id, version FROM tasks_task WHERE owner_id = %s ORDER BY id",
                (seeded["users"]["patcher"],),
            ).fetchall()
            return {"BENCH_TASKS": ",".join(f"{task}:{version}" for task, version in rows)}

        servers = []
        for tree in trees:
            port = run.free_port()
            command = run.gunicorn_command(run.APP, port)
            command[0] = str(tree / ".venv" / "bin" / "gunicorn")
            run.ROOT = tree  # start_server runs it from there (its gunicorn.conf.py)
            server = run.start_server(
                f"gunicorn-{tree.name}",
                command,
                run.app_gunicorn_env(env, ws.run_dir),
                ws.run_dir,
                port,
                run.HEALTH,
            )
            ws.servers.append(server)
            servers.append((tree, server, run.child_pids(server.process.pid)))
        print("tree scenario requests/s | CPU a request (ms): workers PostgreSQL Redis | p99 ms")
        for _ in range(args.rounds):
            for tree, server, workers in servers:
                for name in names:
                    account, script, extra = SCENARIOS[name]
                    before = processes_cpu(workers)
                    if name == "patch":
                        extra = {**extra, **versions()}
                    measured = run.measure(
                        name,
                        run.wrk_command(script, server.base_url, run.CONNECTIONS),
                        {**extra, "BENCH_TOKEN": seeded["tokens"][account]},
                        duration=args.seconds,
                        warmup=warmup,
                        run_dir=ws.run_dir,
                        after_warmup=versions if name == "patch" else None,
                    )
                    after = processes_cpu(workers)
                    # The warm-up's requests cost CPU too: counted at the measured rate.
                    requests = measured.rps * (args.seconds + warmup)
                    costs = " ".join(
                        f"{spent(b, a) / requests * 1e3:.2f}"
                        for b, a in zip(before, after, strict=True)
                    )
                    print(
                        f"{tree.name} {name} {measured.rps} | {costs} | {measured.p99_ms}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
