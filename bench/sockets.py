"""`make bench-sockets`: what a WebSocket frame costs the socket server (issue 26).

On a fresh database and Redis prefixes (as `make bench`), gunicorn serves the API
and each socket server in turn serves taskmanager.asgi:socket_application on the
same code: 2,000 sockets of the managers (who see every event), `--rate` PATCH/s
for `--seconds` through gunicorn. Each run gives the server's CPU per frame
delivered (its process CPU seconds over the frames the listener counted) and the
listener's beside it (bench/ws_fanout.py: bare sockets, over several processes),
with the delivery latency. Then, on the production server (realtime.socket_server):
the target scenario (2,000 sockets x 10 events/s, p99 ≤ 100 ms) and 4,000 sockets
on two worker processes (every event to every socket). `--audience-rounds N`
measures instead, on the production server, the managers' sockets and the same
number of a project's members' in turn, N rounds, the order flipped each round
(`make bench` runs each once, the members after the managers).

    .venv/bin/python bench/sockets.py [--servers daphne,uvicorn] [--seconds 10]
    .venv/bin/python bench/sockets.py --audience-rounds 3

Writes bench/sockets.json (or, with BENCH_QUICK=1, bench/out/sockets.json). Wrap it
in `flock /tmp/bench.lock` on a shared machine. Not part of CI.
"""

import argparse
import json
import platform
import resource
import sys
import time
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    HEALTH,
    PLAN,
    QUICK,
    SOCKET_SERVER_NAME,
    SOCKET_SERVERS,
    WS_LISTENER_PROCESSES,
    WS_TARGET_RATE,
    WS_TWO_PROCESSES_RATE,
    MemoryWatch,
    Server,
    app_env,
    app_gunicorn_env,
    free_port,
    gunicorn_command,
    log,
    machine,
    port_of,
    shorten,
    socket_command,
    socket_targets,
    start_server,
    start_two_socket_processes,
    stop_server,
    wait_until_idle,
    websocket_fanout,
    websocket_paragraph,
    workspace,
)
from bench.run import migrate_and_seed as seed


def start_socket_server(
    kind: str, env: dict[str, str], run_dir: Path, servers: list[Server], workers: int = 1
) -> Server:
    port = free_port()
    server = start_server(
        f"sockets-{kind}-{workers}",
        socket_command(port, kind, workers),
        env,
        run_dir,
        port,
        HEALTH,
    )
    servers.append(server)
    return server


def stop(server: Server, servers: list[Server]) -> None:
    stop_server(server)
    servers.remove(server)


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in (
        "daphne",
        "Twisted",
        "autobahn",
        "uvicorn",
        "httptools",
        "websockets",
        "wsproto",
        "channels",
        "channels_redis",
        "redis",
    ):
        with suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def figures(ws: dict[str, Any], command: list[str]) -> dict[str, Any]:
    """The figures of one fan-out run that the report shows."""
    return {
        "server_command": " ".join(shorten(part) for part in command),
        "sockets": ws["sockets"],
        "sockets_requested": ws["sockets_requested"],
        "socket_processes": ws["socket_processes"],
        "rate_per_s": ws["updates"]["rate_per_s"],
        "seconds": ws["updates"]["seconds"],
        "events": ws["events"],
        "delivered": ws["delivered"],
        "expected_deliveries": ws["expected_deliveries"],
        "events_reaching_every_socket": ws["events_reaching_every_socket"],
        "closed_by_server": ws["closed_by_server"],
        "server_cpu_seconds": ws["daphne_cpu_seconds"],
        "socket_process_cpu_seconds": ws["socket_process_cpu_seconds"],
        "server_cpu_us_per_frame": ws["server_cpu_us_per_frame"],
        "listener_processes": ws["listener_processes"],
        "listener_cpu_seconds": ws["listener_cpu_seconds_receiving"],
        "listener_cpu_us_per_frame": ws["listener_cpu_us_per_frame"],
        "latency_ms": ws["latency_ms"],
        "last_socket_latency_ms": ws["last_socket_latency_ms"],
        "drain_seconds": ws["drain_seconds"],
        "listener_commands": ws["commands"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SOCKET_SERVERS[:2]))
    parser.add_argument("--sockets", type=int, default=PLAN.ws_sockets)
    parser.add_argument("--rate", type=int, default=WS_TARGET_RATE)
    parser.add_argument("--seconds", type=int, default=PLAN.ws_seconds)
    parser.add_argument("--no-target", action="store_true", help="the comparison only")
    parser.add_argument(
        "--listeners", type=int, default=WS_LISTENER_PROCESSES, help="listener processes"
    )
    parser.add_argument(
        "--audience-rounds",
        type=int,
        default=0,
        help="managers' and project members' sockets in turn, this many rounds",
    )
    args = parser.parse_args()
    kinds = args.servers.split(",")
    if any(kind not in SOCKET_SERVERS for kind in kinds):
        print(f"--servers: of {', '.join(SOCKET_SERVERS)}", file=sys.stderr)
        return 2
    # Open files as many as allowed (inherited by the servers and the listener).
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    memory = MemoryWatch()
    results: dict[str, Any] = {
        "command": " ".join(["BENCH_QUICK=1"] * QUICK + ["python bench/sockets.py", *sys.argv[1:]]),
        "machine": machine(),
        "comparison": {},
    }
    with workspace("sockets") as work:
        env = app_env(work.database_url, work.prefix, work.run_dir, "WARNING")
        results["versions"] = package_versions()
        managers = PLAN.managers
        seeded = seed(env, managers, project_listeners=managers)
        http_port = free_port()
        gunicorn = start_server(
            "gunicorn",
            gunicorn_command("taskmanager.wsgi:application", http_port),
            app_gunicorn_env(env, work.run_dir),
            work.run_dir,
            http_port,
            HEALTH,
        )
        work.servers.append(gunicorn)

        def fanout(
            server: Server | list[Server], label: str, sockets: int, rate: int, **more: Any
        ) -> dict[str, Any]:
            log(f"{label}: {sockets} sockets, {rate} updates/s for {args.seconds} s")
            ws = websocket_fanout(
                server,
                gunicorn,
                seeded,
                work.run_dir,
                memory,
                rate,
                sockets=sockets,
                seconds=args.seconds,
                drain=PLAN.ws_drain,
                label=label,
                listeners=args.listeners,
                **more,
            )
            first = server[0] if isinstance(server, list) else server
            found = figures(ws, server_commands[first.name])
            raw[label] = ws
            log(
                f"  delivered {ws['delivered']} of {ws['expected_deliveries']}; server"
                f" {found['server_cpu_us_per_frame']} µs/frame, listener"
                f" {found['listener_cpu_us_per_frame']} µs/frame; p99"
                f" {ws['latency_ms']['p99']} ms"
            )
            idle = wait_until_idle(first.process.pid, limit=120)
            log(f"  idle again after {idle} s")
            return found

        raw: dict[str, dict[str, Any]] = {}
        server_commands: dict[str, list[str]] = {}
        if args.audience_rounds:
            server = start_socket_server(SOCKET_SERVER_NAME, env, work.run_dir, work.servers)
            server_commands[server.name] = socket_command(port_of(server))
            members = {"tokens": seeded["listener_tokens"], "updater": "project_fanout"}
            for round_ in range(1, args.audience_rounds + 1):
                order = ["managers", "members"][:: 1 if round_ % 2 else -1]
                for audience in order:
                    label = f"{audience}_{round_}"
                    more = members if audience == "members" else {}
                    results["comparison"][label] = fanout(
                        server, label, args.sockets, args.rate, **more
                    )
            stop(server, work.servers)
            # That comparison alone: neither the servers' nor the targets' runs.
            kinds, args.no_target = [], True
        for kind in kinds:
            server = start_socket_server(kind, env, work.run_dir, work.servers)
            server_commands[server.name] = socket_command(port_of(server), kind)
            results["comparison"][kind] = fanout(server, kind, args.sockets, args.rate)
            stop(server, work.servers)

        if not args.no_target:
            # The production server (bench/run.py's BENCH_SOCKET_SERVER): the target
            # scenario, the project members' sockets at that rate, two processes.
            server = start_socket_server(SOCKET_SERVER_NAME, env, work.run_dir, work.servers)
            server_commands[server.name] = socket_command(port_of(server))
            results["target"] = fanout(server, "target", args.sockets, WS_TARGET_RATE)
            results["project_target"] = fanout(
                server,
                "project_target",
                args.sockets,
                WS_TARGET_RATE,
                tokens=seeded["listener_tokens"],
                updater="project_fanout",
            )
            stop(server, work.servers)
            two = start_two_socket_processes(env, work.run_dir)
            work.servers.extend(two)
            server_commands[two[0].name] = socket_command(port_of(two[0]), workers=2)
            results["two_processes"] = fanout(
                two, "two_processes", 2 * args.sockets, WS_TWO_PROCESSES_RATE
            )
            for server in two:
                stop(server, work.servers)
            # Judged as bench/run.py judges them.
            judged = {
                "websocket_target": raw["target"],
                "websocket_project_target": raw["project_target"],
                "websocket_two_processes": raw["two_processes"],
            }
            results["targets"] = socket_targets(judged)
            for row in results["targets"]:
                log(f"  {'met    ' if row['met'] else 'NOT MET'} {row['target']}: {row['figures']}")
            results["paragraphs"] = [
                websocket_paragraph(label, ws, {"websocket_managers": managers})
                for label, ws in raw.items()
            ]
    results["seconds"] = round(time.monotonic() - started, 1)
    out = PLAN.output / "sockets.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
