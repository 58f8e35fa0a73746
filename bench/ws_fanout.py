"""The WebSocket fan-out scenario's two sides, run as separate processes by bench/run.py.

`listen` opens N authenticated sockets on /ws/tasks/, prints one READY line (JSON) and
records when each task event arrives on each socket, keyed by (task id, version).
When a line with the path of the updater's record arrives on stdin, it waits until
every socket has every event the API acknowledged (or a deadline), closes the sockets
and writes the delivery figures as JSON.

`update` PATCHes task titles through the HTTP API at a constant rate and records, for each
acknowledged change, the task id, the new version and the moment the response was
read (time.monotonic: one clock for every process on the machine).

Latency is therefore "HTTP response read by the updater" to "frame read by the
listener", both processes on this machine; the listener's own event loop is part of
it, so a listener that cannot keep up shows as latency, not as lost events.
"""

import argparse
import asyncio
import json
import queue
import resource
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

Key = tuple[int, int]


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


# The listener.


@dataclass
class Listener:
    token: str
    received: dict[Key, float] = field(default_factory=dict)
    socket: ClientConnection | None = None
    opened: bool = False
    open_error: str | None = None
    closed_code: int | None = None
    other_messages: int = 0


async def listen_one(
    listener: Listener, url: str, gate: asyncio.Semaphore, opened: asyncio.Event
) -> None:
    try:
        async with gate:
            socket = await connect(
                url,
                additional_headers={"Authorization": f"Bearer {listener.token}"},
                open_timeout=60,
                # The server pings (daphne --ping-interval); a client busy reading
                # thousands of frames must not close its own sockets on a late pong.
                ping_interval=None,
                max_size=2**20,
            )
            first = json.loads(await asyncio.wait_for(socket.recv(), 60))
            if first.get("type") != "ready":
                listener.open_error = f"first message {first!r}"
                await socket.close()
                return
        listener.socket, listener.opened = socket, True
    except (OSError, TimeoutError, InvalidStatus, ConnectionClosed) as exc:
        listener.open_error = f"{type(exc).__name__}: {exc}"
        return
    finally:
        opened.set()
    received = listener.received
    try:
        async for raw in socket:
            now = time.monotonic()
            message = json.loads(raw)
            task = message.get("task")
            if message.get("type", "").startswith("task.") and isinstance(task, dict):
                received[(int(task["id"]), int(task["version"]))] = now
            else:
                listener.other_messages += 1
    except ConnectionClosed:
        pass
    listener.closed_code = socket.close_code


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def load_updates(path: Path) -> dict[Key, float]:
    acknowledged: dict[Key, float] = {}
    with path.open() as lines:
        for line in lines:
            record = json.loads(line)
            if 200 <= record["status"] < 300:
                acknowledged[(record["task"], record["version"])] = record["t"]
    return acknowledged


async def listen(args: argparse.Namespace) -> None:
    raise_file_limit()
    tokens: list[str] = json.loads(Path(args.tokens).read_text())
    listeners = [Listener(tokens[i % len(tokens)]) for i in range(args.sockets)]
    gate = asyncio.Semaphore(args.concurrency)
    started = time.monotonic()
    events = [asyncio.Event() for _ in listeners]
    tasks = [
        asyncio.create_task(listen_one(listener, args.url, gate, event))
        for listener, event in zip(listeners, events, strict=True)
    ]
    await asyncio.gather(*(event.wait() for event in events))
    opened = [listener for listener in listeners if listener.opened]
    errors = sorted({listener.open_error for listener in listeners if listener.open_error})
    ready = {
        "opened": len(opened),
        "failed": len(listeners) - len(opened),
        "seconds": round(time.monotonic() - started, 2),
        "errors": errors[:5],
    }
    print("READY " + json.dumps(ready), flush=True)

    line = (await read_line()).strip()
    acknowledged = load_updates(Path(line)) if line else {}
    expected = set(acknowledged)
    drain_started = time.monotonic()
    deadline = drain_started + args.drain
    # Until every socket has every event, the deadline, or nothing has arrived for
    # `stall` seconds (a message the layer dropped or let expire never comes).
    last_total, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        if all(expected <= listener.received.keys() for listener in opened):
            break
        total = sum(len(listener.received) for listener in opened)
        if total != last_total:
            last_total, last_change = total, time.monotonic()
        elif time.monotonic() - last_change > args.stall:
            break
        await asyncio.sleep(0.5)
    drained_after = time.monotonic() - drain_started

    for listener in opened:
        if listener.socket is not None:
            await listener.socket.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies: list[float] = []
    last_arrival: dict[Key, float] = {}
    complete_sockets, delivered = 0, 0
    closed_early: dict[str, int] = {}
    for listener in opened:
        got = 0
        for key, t_response in acknowledged.items():
            arrived = listener.received.get(key)
            if arrived is None:
                continue
            got += 1
            latencies.append(arrived - t_response)
            last_arrival[key] = max(last_arrival.get(key, arrived), arrived)
        delivered += got
        complete_sockets += got == len(expected)
        if listener.closed_code not in (None, 1000):
            code = str(listener.closed_code)
            closed_early[code] = closed_early.get(code, 0) + 1
    latencies.sort()
    all_sockets = sorted(last_arrival[key] - acknowledged[key] for key in last_arrival)
    reach = dict.fromkeys(expected, 0)
    for listener in opened:
        for key in expected & listener.received.keys():
            reach[key] += 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "sockets": len(opened),
        "sockets_requested": len(listeners),
        "open_seconds": ready["seconds"],
        "open_errors": errors[:5],
        "events": len(expected),
        "expected_deliveries": len(expected) * len(opened),
        "delivered": delivered,
        "sockets_with_every_event": complete_sockets,
        "closed_by_server": closed_early,
        "drain_seconds": round(drained_after, 2),
        "events_reaching_every_socket": sum(count == len(opened) for count in reach.values()),
        "events_reaching_no_socket": sum(count == 0 for count in reach.values()),
        "listener_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "latency_ms": {
            "min": ms(latencies[0] if latencies else None),
            "p50": ms(percentile(latencies, 50)),
            "p95": ms(percentile(latencies, 95)),
            "p99": ms(percentile(latencies, 99)),
            "max": ms(latencies[-1] if latencies else None),
        },
        "last_socket_latency_ms": {
            "p50": ms(percentile(all_sockets, 50)),
            "p99": ms(percentile(all_sockets, 99)),
            "max": ms(all_sockets[-1] if all_sockets else None),
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2))


# The updater.


def update(args: argparse.Namespace) -> None:
    pool: queue.Queue[tuple[int, int]] = queue.Queue()
    for task_id in (int(value) for value in args.tasks.split(",")):
        pool.put((task_id, 1))
    local = threading.local()
    records: list[dict[str, Any]] = []
    lock = threading.Lock()
    count = int(args.rate * args.duration)
    run = secrets.token_hex(3)
    start = time.monotonic() + 0.5

    def one(index: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {args.token}"
        scheduled = start + index / args.rate
        time.sleep(max(0.0, scheduled - time.monotonic()))
        task_id, step = pool.get()
        sent = time.monotonic()
        try:
            response = local.session.patch(
                f"{args.api}/api/v1/tasks/{task_id}/",
                # A new title every time (this run's too: runs share tasks): a PATCH
                # that changes nothing sends no event.
                json={"title": f"fan-out {run} {step}-{index}"},
                timeout=10,
            )
            status, version = response.status_code, response.json().get("version", 0)
        except (requests.RequestException, ValueError):
            status, version = 0, 0
        answered = time.monotonic()
        pool.put((task_id, step + 1))
        with lock:
            records.append(
                {
                    "task": task_id,
                    "version": version,
                    "status": status,
                    "t": answered,
                    "latency_ms": round((answered - sent) * 1000, 2),
                    "late_ms": round((sent - scheduled) * 1000, 2),
                }
            )

    with ThreadPoolExecutor(args.threads) as executor:
        list(executor.map(one, range(count)))
    with Path(args.out).open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    modes = parser.add_subparsers(dest="mode", required=True)
    listen_args = modes.add_parser("listen")
    listen_args.add_argument("--url", required=True)
    listen_args.add_argument("--tokens", required=True, help="JSON file: a list of tokens")
    listen_args.add_argument("--sockets", type=int, default=2000)
    listen_args.add_argument("--concurrency", type=int, default=50, help="handshakes at once")
    listen_args.add_argument("--drain", type=float, default=60, help="seconds to wait at most")
    listen_args.add_argument("--stall", type=float, default=15, help="seconds without a frame")
    listen_args.add_argument("--out", required=True)
    update_args = modes.add_parser("update")
    update_args.add_argument("--api", required=True)
    update_args.add_argument("--token", required=True)
    update_args.add_argument("--tasks", required=True, help="comma-separated task ids")
    update_args.add_argument("--rate", type=float, default=50)
    update_args.add_argument("--duration", type=float, default=10)
    update_args.add_argument("--threads", type=int, default=16)
    update_args.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.mode == "listen":
        asyncio.run(listen(args))
    else:
        update(args)


if __name__ == "__main__":
    main()
