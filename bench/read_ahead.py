"""A/B of the read ahead (taskmanager.readahead): does it pay?

The authenticated task list, cached (`list`, scenario (a) of `make bench`) and with
the cache bypassed (`list_uncached`: a unique Host port per request), with the read
ahead on (taskmanager.settings) and off (bench/settings_no_read_ahead.py, which sets
READ_AHEAD = False). Set up as `make bench` does (bench/run.py: a fresh PostgreSQL
database and Redis key prefixes, removed afterwards; bench/seed.py). For each side:

1. Redis traffic per request, which machine noise does not change:
   - in a process of its own, warm requests through Django's test client with every
     packet written to Redis recorded (a packet is a round trip; the commands in it
     are counted);
   - the commands gunicorn's workers send for the same requests, seen by MONITOR
     (every command of the connections that use the run's key prefix).
2. requests/s and latency under wrk (64 connections, 2 threads, as `make bench`)
   against gunicorn with 2 sync workers, the sides alternating for BENCH_ROUNDS rounds
   (default 2) so that the machine's drift falls on both.

Prints both; writes read_ahead.json and its section of RESULTS.md (BENCH_QUICK=1: a
smoke run of a few seconds per load, written to bench/out/). Not part of CI.
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    APP,
    CONNECTIONS,
    HEALTH,
    PLAN,
    REDIS_URL,
    ROOT,
    Server,
    app_env,
    free_port,
    gunicorn_command,
    log,
    machine,
    measure,
    migrate_and_seed,
    ready_for_load,
    start_server,
    stop_server,
    versions,
    workspace,
    write_results_md,
    wrk_command,
)

SIDES = {"on": "taskmanager.settings", "off": "bench.settings_no_read_ahead"}
LOADS = ("list", "list_uncached")
LIST_PATH = "/api/v1/tasks/"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
COUNTED_REQUESTS = 50
MARKERS = ("<!-- bench/read_ahead.py: start -->", "<!-- bench/read_ahead.py: end -->")
COMMAND = " ".join(
    [
        *(
            f"{name}={os.environ[name]}"
            for name in ("BENCH_QUICK", "BENCH_ROUNDS")
            if name in os.environ
        ),
        ".venv/bin/python bench/read_ahead.py",
    ]
)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "count":
        # The child process of `traffic_in_process`.
        print(json.dumps(count_in_process(sys.argv[2], COUNTED_REQUESTS)))
        return 0
    if not ready_for_load("bench/read_ahead.py"):
        return 2
    with workspace("read-ahead") as work:
        results = compare(work.database_url, work.prefix, work.run_dir, work.servers)
    PLAN.output.mkdir(parents=True, exist_ok=True)
    (PLAN.output / "read_ahead.json").write_text(json.dumps(results, indent=2) + "\n")
    write_results_md(PLAN.output / "RESULTS.md", markdown(results), MARKERS)
    print(report(results))
    log(f"wrote {(PLAN.output / 'RESULTS.md').relative_to(ROOT)} (its read-ahead section)")
    return 0


def compare(database_url: str, prefix: str, run_dir: Path, servers: list[Server]) -> dict[str, Any]:
    env = app_env(database_url, prefix, run_dir, "WARNING")
    results: dict[str, Any] = {
        "run": {
            "command": COMMAND,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": PLAN.duration,
            "warmup_s": PLAN.warmup,
            "rounds": ROUNDS,
        },
        "machine": machine(),
        "versions": versions(database_url),
        "traffic": {},
        "load": [],
    }
    token = migrate_and_seed(env, managers=1)["tokens"]["reader"]
    for side, settings_module in SIDES.items():
        log(f"Redis traffic, read ahead {side}")
        side_env = {**env, "DJANGO_SETTINGS_MODULE": settings_module}
        results["traffic"][side] = {"in_process": traffic_in_process(side_env, token)}
    for round_ in range(1, ROUNDS + 1):
        for side, settings_module in SIDES.items():
            label = f"{side}-round{round_}"
            log(f"read ahead {side}, round {round_}")
            port = free_port()
            server_env = {
                **env,
                "DJANGO_SETTINGS_MODULE": settings_module,
                "PROMETHEUS_MULTIPROC_DIR": str(run_dir / f"prometheus-{label}"),
            }
            Path(server_env["PROMETHEUS_MULTIPROC_DIR"]).mkdir()
            command = gunicorn_command(APP, port)
            server = start_server(label, command, server_env, run_dir, port, HEALTH)
            servers.append(server)
            try:
                if round_ == 1:
                    results["traffic"][side]["monitor"] = traffic_monitored(
                        server.base_url, token, prefix
                    )
                for load in LOADS:
                    extra = {"BENCH_BUST": "1"} if load == "list_uncached" else {}
                    measured = measure(
                        f"{label}-{load}",
                        wrk_command("get.lua", server.base_url, CONNECTIONS),
                        {"BENCH_TOKEN": token, "BENCH_PATHS": LIST_PATH, **extra},
                        duration=PLAN.duration,
                        warmup=PLAN.warmup,
                        run_dir=run_dir,
                    )
                    results["load"].append(
                        {
                            "side": side,
                            "round": round_,
                            "load": load,
                            "rps": measured.rps,
                            "p50_ms": measured.p50_ms,
                            "p99_ms": measured.p99_ms,
                            "errors": measured.errors,
                        }
                    )
                    log(
                        f"  {load}: {measured.rps} rps, p50 {measured.p50_ms} ms, p99"
                        f" {measured.p99_ms} ms, {measured.errors} errors"
                    )
            finally:
                stop_server(server)
                servers.remove(server)
    return results


# Redis traffic.


def unique_host() -> str:
    # A new absolute URL, the list cache's key (ALLOWED_HOSTS ignores the port).
    return f"127.0.0.1:{time.time_ns()}"


def traffic_in_process(env: dict[str, str], token: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "count", token],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def count_in_process(token: str, requests_per_load: int) -> dict[str, Any]:
    """Round trips and commands to Redis per warm request of each load, through
    Django's test client (the whole middleware stack) in this process."""
    import django

    django.setup()
    from django.test import Client
    from redis.connection import Connection

    packets: list[bytes] = []
    send = Connection.send_packed_command

    def record(connection: Connection, command: Any, *args: Any, **kwargs: Any) -> Any:
        packets.append(b"".join(command) if isinstance(command, list) else bytes(command))
        return send(connection, command, *args, **kwargs)

    Connection.send_packed_command = record  # type: ignore[method-assign]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    counts: dict[str, Any] = {}
    for load in LOADS:
        for sent in range(requests_per_load + 1):
            if sent == 1:  # the first one warms the entries
                packets.clear()
            host = unique_host() if load == "list_uncached" else "127.0.0.1"
            response = client.get(LIST_PATH, HTTP_HOST=host)
            if response.status_code != 200:
                raise RuntimeError(f"{load}: {response.status_code} {response.content[:200]!r}")
        commands = Counter(name for packet in packets for name in command_names(packet))
        counts[load] = {
            "round_trips": round(len(packets) / requests_per_load, 2),
            "commands": round(sum(commands.values()) / requests_per_load, 2),
            "by_command": {
                name: round(count / requests_per_load, 2)
                for name, count in sorted(commands.items())
            },
        }
    return counts


def command_names(packet: bytes) -> list[str]:
    """The commands in one packet of RESP arrays (a pipeline sends several)."""
    names: list[str] = []
    at = 0
    while at < len(packet):
        end = packet.index(b"\r\n", at)
        assert packet[at : at + 1] == b"*", packet[at : at + 20]
        arguments = int(packet[at + 1 : end])
        at = end + 2
        for argument in range(arguments):
            end = packet.index(b"\r\n", at)
            length = int(packet[at + 1 : end])
            if argument == 0:
                names.append(packet[end + 2 : end + 2 + length].decode().upper())
            at = end + 2 + length + 2
    return names


def traffic_monitored(base_url: str, token: str, prefix: str) -> dict[str, Any]:
    """Commands per warm request that gunicorn's workers send, as MONITOR sees them."""
    counts: dict[str, Any] = {}
    for load in LOADS:
        send_list = list_sender(base_url, token, load)
        send_list()  # warms the entries
        seen = monitored(send_list, COUNTED_REQUESTS, prefix)
        ours = {address for address, command in seen if f"{prefix}-cache" in command}
        commands = Counter(command.split(" ", 1)[0] for address, command in seen if address in ours)
        counts[load] = {
            "commands": round(sum(commands.values()) / COUNTED_REQUESTS, 2),
            "by_command": {
                name: round(count / COUNTED_REQUESTS, 2) for name, count in sorted(commands.items())
            },
        }
    return counts


def list_sender(base_url: str, token: str, load: str) -> Any:
    def send() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if load == "list_uncached":
            headers["Host"] = unique_host()
        response = requests.get(base_url + LIST_PATH, headers=headers, timeout=10)
        response.raise_for_status()

    return send


def monitored(send: Any, times: int, prefix: str) -> list[tuple[str, str]]:
    """(client address, command) of every command Redis ran while `send` ran `times`
    times; the Redis server is shared, so the caller keeps its own."""
    end = f"{prefix}-monitor-end"
    seen: list[tuple[str, str]] = []
    listening = threading.Event()

    def listen() -> None:
        client = redis.Redis.from_url(REDIS_URL)
        with client.monitor() as monitor:
            listening.set()
            for entry in monitor.listen():
                if end in entry["command"]:
                    break
                address = f"{entry.get('client_address')}:{entry.get('client_port')}"
                seen.append((address, entry["command"]))
        client.close()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    if not listening.wait(10):
        raise RuntimeError("MONITOR did not start")
    for _ in range(times):
        send()
    closer = redis.Redis.from_url(REDIS_URL)
    closer.get(end)
    closer.close()
    thread.join(30)
    return seen


# Report.


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for load in LOADS:
        for side in SIDES:
            runs = [r for r in results["load"] if r["side"] == side and r["load"] == load]
            traffic = results["traffic"][side]
            rows.append(
                {
                    "load": load,
                    "side": side,
                    "rps": [r["rps"] for r in runs],
                    "p99_ms": [r["p99_ms"] for r in runs],
                    "mean_rps": mean([r["rps"] for r in runs]),
                    "mean_p99_ms": mean([r["p99_ms"] for r in runs]),
                    "errors": sum(r["errors"] for r in runs),
                    "round_trips": traffic["in_process"][load]["round_trips"],
                    "commands": traffic["in_process"][load]["commands"],
                    "by_command": traffic["in_process"][load]["by_command"],
                    "monitor_commands": traffic.get("monitor", {}).get(load, {}).get("commands"),
                }
            )
    return rows


def report(results: dict[str, Any]) -> str:
    lines = [
        f"read ahead A/B ({results['run']['date']}, rounds: {results['run']['rounds']},"
        f" {results['run']['duration_s']} s per load, wrk -c{CONNECTIONS}):",
        f"{'load':<14} {'read ahead':<10} {'req/s (mean)':>12} {'p99 ms (mean)':>13}"
        f" {'round trips':>11} {'commands':>8} {'MONITOR':>7}  per round req/s; p99 ms",
    ]
    for row in summary(results):
        lines.append(
            f"{row['load']:<14} {row['side']:<10} {row['mean_rps']:>12,.1f}"
            f" {row['mean_p99_ms']:>13} {row['round_trips']:>11} {row['commands']:>8}"
            f" {row['monitor_commands']!s:>7}  {row['rps']}; {row['p99_ms']}"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    run, versions_ = results["run"], results["versions"]
    lines = [
        MARKERS[0],
        "",
        "## The read ahead, on and off (issue 22)",
        "",
        f"Run: `{run['command']}` on {run['date']}. Machine: {results['machine']['cpu']},"
        f" {results['machine']['cores']} cores; Redis {versions_['redis_server']}, PostgreSQL"
        f" {versions_['postgresql']}. The settings of `make bench`; gunicorn, 2 sync workers,"
        f" restarted for each side; the sides alternate, rounds: {run['rounds']}, each of"
        f" {run['duration_s']} s per load after {run['warmup_s']} s of warm-up, wrk with"
        f" {CONNECTIONS} connections. Redis traffic: {COUNTED_REQUESTS} warm requests per"
        " load, through Django's test client (packets sent: round trips) and through"
        " gunicorn (MONITOR: commands).",
        "",
        "| load | read ahead | req/s (mean) | p99 ms (mean) | req/s per round | p99 ms per round"
        " | errors | Redis round trips / request | commands / request (MONITOR) | commands |",
        "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in summary(results):
        by_command = ", ".join(f"{name} {count:g}" for name, count in row["by_command"].items())
        lines.append(
            f"| {row['load']} | {row['side']} | {row['mean_rps']:,.1f} | {row['mean_p99_ms']}"
            f" | {', '.join(f'{value:,.0f}' for value in row['rps'])}"
            f" | {', '.join(str(value) for value in row['p99_ms'])} | {row['errors']}"
            f" | {row['round_trips']:g} | {row['commands']:g} ({row['monitor_commands']})"
            f" | {by_command} |"
        )
    lines += ["", MARKERS[1], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
