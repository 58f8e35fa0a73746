"""The WebSocket fan-out scenario's two sides, run as separate processes by bench/run.py.

`listen` opens N authenticated sockets on /ws/tasks/ (socket i on URL i modulo the
comma-separated `--url`s), split over `--processes` processes, prints one READY line
(JSON) and records when each task event arrives on each socket, keyed by (task id,
version). When a line with the path of the updater's record arrives on stdin, it
waits until every socket has every event the API acknowledged (or a deadline),
prints DRAINED (the caller reads the server's CPU then, before any socket closes),
waits for a line on stdin, closes the sockets and writes the delivery figures as
JSON, its own CPU from READY to DRAINED among them.

Each socket is a bare asyncio protocol (uvloop where installed) that reads the
server's unmasked frames itself: websockets' client cost as much CPU a frame as the
server, so a listener built on it measured itself (issue 26).

`update` PATCHes task titles through the HTTP API at a constant rate and records, for each
acknowledged change, the task id, the new version and the moment the response was
read (time.monotonic: one clock for every process on the machine).

Latency is therefore "HTTP response read by the updater" to "frame read by the
listener", both processes on this machine; the listener's own event loop is part of
it, so a listener that cannot keep up shows as latency, not as lost events.
"""

import argparse
import asyncio
import base64
import json
import multiprocessing
import queue
import resource
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import requests

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
#
# A listener that costs more per frame than the server measures itself (issue 26:
# websockets' client cost as much CPU as daphne): each socket here is a bare asyncio
# protocol that reads the server's unmasked frames itself, and the sockets are split
# over `--processes` processes, each with its own event loop.

CLOSE, PING, PONG, TEXT, CONTINUATION = 0x8, 0x9, 0xA, 0x1, 0x0


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A client frame: masked, as RFC 6455 requires (a zero mask leaves the payload as is)."""
    if len(payload) > 125:
        raise ValueError("control frames of this client are at most 125 bytes")
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


@dataclass
class Listener:
    token: str
    received: dict[Key, float] = field(default_factory=dict)
    opened: bool = False
    open_error: str | None = None
    closed_code: int | None = None
    other_messages: int = 0


class ListenerSocket(asyncio.Protocol):
    """One authenticated socket on /ws/tasks/ that records when each task event arrives."""

    def __init__(self, listener: Listener, host: str, path: str, ready: asyncio.Future[None]):
        self.listener, self.host, self.path, self.ready = listener, host, path, ready
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: list[bytes] = []
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {self.listener.token}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self.fail(f"handshake answered {status.decode(errors='replace')!r}")
                return
            self.upgraded = True
            del buffer[: end + 4]
        now = time.monotonic()
        at, size = 0, len(buffer)
        while size - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            length, start = second & 0x7F, at + 2
            if length == 126:
                if size - at < 4:
                    break
                length, start = int.from_bytes(buffer[at + 2 : at + 4]), at + 4
            elif length == 127:
                if size - at < 10:
                    break
                length, start = int.from_bytes(buffer[at + 2 : at + 10]), at + 10
            if size < start + length:
                break
            payload = bytes(buffer[start : start + length])
            at = start + length
            self.frame(first & 0x80, first & 0x0F, payload, now)
        del buffer[:at]

    def frame(self, fin: int, opcode: int, payload: bytes, now: float) -> None:
        if opcode in (TEXT, CONTINUATION):
            if not fin:
                self.fragments.append(payload)
                return
            if self.fragments:
                payload, self.fragments = b"".join([*self.fragments, payload]), []
            self.message(payload, now)
        elif opcode == PING:
            assert self.transport is not None
            self.transport.write(client_frame(PONG, payload))
        elif opcode == CLOSE:
            code = int.from_bytes(payload[:2]) if len(payload) >= 2 else 1005
            self.listener.closed_code = code
            self.close()
        elif opcode != PONG:
            self.listener.other_messages += 1

    def message(self, payload: bytes, now: float) -> None:
        listener = self.listener
        message = orjson.loads(payload)
        if not listener.opened:
            if message.get("type") == "ready":
                listener.opened = True
                if not self.ready.done():
                    self.ready.set_result(None)
            else:
                self.fail(f"first message {message!r}")
            return
        task = message.get("task")
        if message.get("type", "").startswith("task.") and isinstance(task, dict):
            listener.received[(int(task["id"]), int(task["version"]))] = now
        else:
            listener.other_messages += 1

    def fail(self, error: str) -> None:
        self.listener.open_error = error
        if not self.ready.done():
            self.ready.set_result(None)
        self.close()

    def close(self, code: int | None = None) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if code is not None and self.upgraded:
                self.transport.write(client_frame(CLOSE, code.to_bytes(2)))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.listener.open_error = f"connection lost before ready: {exc!r}"
            self.ready.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)


async def open_socket(
    listener: Listener, url: str, gate: asyncio.Semaphore
) -> ListenerSocket | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    async with gate:
        ready: asyncio.Future[None] = loop.create_future()
        try:
            _, protocol = await loop.create_connection(
                lambda: ListenerSocket(listener, f"{host}:{port}", parts.path, ready), host, port
            )
            await asyncio.wait_for(ready, 60)
        except (OSError, TimeoutError) as exc:
            listener.open_error = f"{type(exc).__name__}: {exc}"
            return None
    return protocol if listener.opened else None


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


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def listen_part(
    args: argparse.Namespace, tokens: list[str], first: int, count: int, pipe: Connection
) -> None:
    """Sockets first..first+count-1 (socket i on token i modulo the tokens), in one
    process: READY figures up the pipe, then the path of the updates down it, then
    each socket's arrivals and this process's CPU up it."""
    raise_file_limit()
    urls = args.url.split(",")
    listeners = [Listener(tokens[i % len(tokens)]) for i in range(first, first + count)]
    gate = asyncio.Semaphore(args.concurrency)
    started = time.monotonic()
    sockets = await asyncio.gather(
        *(
            open_socket(listener, urls[(first + i) % len(urls)], gate)
            for i, listener in enumerate(listeners)
        )
    )
    cpu_before = cpu_now()
    pipe.send(
        {
            "opened": sum(listener.opened for listener in listeners),
            "errors": sorted(
                {listener.open_error for listener in listeners if listener.open_error}
            ),
            "seconds": time.monotonic() - started,
        }
    )
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, pipe.recv)
    acknowledged = load_updates(Path(line)) if line else {}
    expected = set(acknowledged)
    opened = [listener for listener in listeners if listener.opened]
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
    cpu_drained = cpu_now()
    # The sockets stay open until every part has drained (the server's CPU is read
    # then: closing 2,000 sockets is no frame's cost).
    pipe.send("drained")
    await loop.run_in_executor(None, pipe.recv)
    for socket in sockets:
        if socket is not None:
            socket.close(1000)
    await asyncio.wait(
        [socket.closed for socket in sockets if socket is not None] or [loop.create_future()],
        timeout=10,
    )
    pipe.send(
        {
            "listeners": [
                (listener.opened, listener.open_error, listener.closed_code, listener.received)
                for listener in listeners
            ],
            "drain_seconds": drained_after,
            "cpu_seconds": cpu_drained,
            "cpu_seconds_when_ready": cpu_before,
        }
    )


def run_part(
    args: argparse.Namespace, tokens: list[str], first: int, count: int, pipe: Connection
) -> None:
    try:
        # uvloop's reads cost the listener less than asyncio's, where it is installed.
        import uvloop
    except ImportError:
        asyncio.run(listen_part(args, tokens, first, count, pipe))
    else:
        uvloop.run(listen_part(args, tokens, first, count, pipe))


def listen(args: argparse.Namespace) -> None:
    tokens: list[str] = json.loads(Path(args.tokens).read_text())
    processes = max(1, min(args.processes, args.sockets))
    context = multiprocessing.get_context("fork")
    parts: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    for index in range(processes):
        first = args.sockets * index // processes
        count = args.sockets * (index + 1) // processes - first
        ours, theirs = context.Pipe()
        process = context.Process(target=run_part, args=(args, tokens, first, count, theirs))
        process.start()
        parts.append((process, ours))
    started = time.monotonic()
    opening = [pipe.recv() for _, pipe in parts]
    opened_seconds = round(time.monotonic() - started, 2)
    opened = sum(part["opened"] for part in opening)
    ready = {
        "opened": opened,
        "failed": args.sockets - opened,
        "seconds": opened_seconds,
        "errors": sorted({error for part in opening for error in part["errors"]})[:5],
        "processes": processes,
    }
    print("READY " + json.dumps(ready), flush=True)
    line = sys.stdin.readline().strip()
    for _, pipe in parts:
        pipe.send(line)
    for _, pipe in parts:
        pipe.recv()
    # Every socket has every event (or the deadline passed): the caller reads the
    # server's CPU now, then says `close`.
    print("DRAINED", flush=True)
    sys.stdin.readline()
    for _, pipe in parts:
        pipe.send("close")
    results = [pipe.recv() for _, pipe in parts]
    for part, _ in parts:
        part.join(30)
    acknowledged = load_updates(Path(line)) if line else {}
    Path(args.out).write_text(
        json.dumps(summary(acknowledged, results, opened_seconds, processes), indent=2)
    )


def summary(
    acknowledged: dict[Key, float],
    results: list[dict[str, Any]],
    opened_seconds: float,
    processes: int,
) -> dict[str, Any]:
    expected = set(acknowledged)
    everyone = [listener for result in results for listener in result["listeners"]]
    opened = [listener for listener in everyone if listener[0]]
    errors = sorted({listener[1] for listener in everyone if listener[1]})
    latencies: list[float] = []
    last_arrival: dict[Key, float] = {}
    reach = dict.fromkeys(expected, 0)
    complete_sockets, delivered = 0, 0
    closed_early: dict[str, int] = {}
    for _opened, _error, closed_code, received in opened:
        got = 0
        for key, t_response in acknowledged.items():
            arrived = received.get(key)
            if arrived is None:
                continue
            got += 1
            reach[key] += 1
            latencies.append(arrived - t_response)
            last_arrival[key] = max(last_arrival.get(key, arrived), arrived)
        delivered += got
        complete_sockets += got == len(expected)
        if closed_code not in (None, 1000):
            closed_early[str(closed_code)] = closed_early.get(str(closed_code), 0) + 1
    latencies.sort()
    all_sockets = sorted(last_arrival[key] - acknowledged[key] for key in last_arrival)
    listener_cpu = sum(result["cpu_seconds"] for result in results)
    receiving_cpu = sum(
        result["cpu_seconds"] - result["cpu_seconds_when_ready"] for result in results
    )
    return {
        "sockets": len(opened),
        "sockets_requested": len(everyone),
        "open_seconds": opened_seconds,
        "open_errors": errors[:5],
        "events": len(expected),
        "expected_deliveries": len(expected) * len(opened),
        "delivered": delivered,
        "sockets_with_every_event": complete_sockets,
        "closed_by_server": closed_early,
        "drain_seconds": round(max(result["drain_seconds"] for result in results), 2),
        "events_reaching_every_socket": sum(count == len(opened) for count in reach.values()),
        "events_reaching_no_socket": sum(count == 0 for count in reach.values()),
        "listener_processes": processes,
        "listener_cpu_seconds": round(listener_cpu, 2),
        # From READY on (the updater's run and the drain): the CPU the listener spent
        # receiving, beside the server's over the same time.
        "listener_cpu_seconds_receiving": round(receiving_cpu, 2),
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
    listen_args.add_argument(
        "--url", required=True, help="comma-separated: socket i goes to URL i modulo them"
    )
    listen_args.add_argument("--tokens", required=True, help="JSON file: a list of tokens")
    listen_args.add_argument("--sockets", type=int, default=2000)
    listen_args.add_argument(
        "--concurrency", type=int, default=25, help="handshakes at once, per process"
    )
    listen_args.add_argument("--processes", type=int, default=2, help="listener processes")
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
        listen(args)
    else:
        update(args)


if __name__ == "__main__":
    main()
