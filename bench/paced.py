"""A constant-rate HTTP client for scenario (f): N clients, R requests/s in total.

Request i starts at t0 + i/R whatever happened to the ones before (an open loop, so
a slow server cannot slow the offered load down and hide its own latency); client
i mod N sends it, so each client sends every N/R seconds. Every request opens its
own connection, as a reverse proxy's upstream request does: gunicorn's sync workers
close the connection after each response anyway, and an idle connection held open
by a client (wrk with a Lua delay() reconnects at once, then waits) would hold a
sync worker until its request arrives; see bench/README.md.

Latency is from the start of the connection to the end of the response. Prints one
line "BENCH_JSON {...}" like the wrk scripts. The token is read from BENCH_TOKEN.
"""

import argparse
import asyncio
import json
import os
import time
from urllib.parse import urlsplit


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def one(host: str, port: int, payload: bytes, timeout: float) -> int:
    """One request on its own connection; the HTTP status."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(payload)
            status_line = await reader.readline()
            await reader.read()  # to the end: the server closes (Connection: close)
        finally:
            writer.close()
    parts = status_line.split()
    return int(parts[1]) if len(parts) > 1 else 0


async def drive(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    headers = [
        f"GET {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.1",
        f"Host: {host}:{port}",
        "Accept: application/json",
        "Connection: close",
    ]
    token = os.environ.get("BENCH_TOKEN", "")
    if token:
        headers.append(f"Authorization: Bearer {token}")
    payload = ("\r\n".join(headers) + "\r\n\r\n").encode()

    latencies: list[float] = []
    lateness: list[float] = []
    errors = {"status": 0, "timeout": 0, "connect": 0}
    pending: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    total = int(args.rate * (args.warmup + args.duration))
    measured_from = int(args.rate * args.warmup)
    start = loop.time() + 0.1

    async def request(index: int, scheduled: float) -> None:
        began = loop.time()
        try:
            status = await one(host, port, payload, args.timeout)
        except TimeoutError:
            if index >= measured_from:
                errors["timeout"] += 1
            return
        except OSError:
            if index >= measured_from:
                errors["connect"] += 1
            return
        ended = loop.time()
        if index < measured_from:
            return
        latencies.append(ended - began)
        lateness.append(began - scheduled)
        if not 200 <= status < 300:
            errors["status"] += 1

    for index in range(total):
        scheduled = start + index / args.rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(request(index, scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)

    latencies.sort()
    lateness.sort()
    requests = total - measured_from
    return {
        "requests": requests,
        "duration_us": args.duration * 1e6,
        "errors": errors,
        "latency_us": {
            name: percentile(latencies, pct) * 1e6
            for name, pct in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9))
        }
        | {"max": latencies[-1] * 1e6 if latencies else 0.0},
        "client_late_us": {"p99": percentile(lateness, 99) * 1e6},
        "clients": args.clients,
        "rate": args.rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=150)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--timeout", type=float, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    report = asyncio.run(drive(args))
    report["wall_seconds"] = round(time.monotonic() - started, 2)
    print("BENCH_JSON " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
