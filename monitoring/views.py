import asyncio
import contextvars
import ipaddress
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from monitoring import state
from taskmanager.exceptions import NOT_FOUND_MESSAGE, error_response, method_not_allowed_message
from taskmanager.net import client_ip
from taskmanager.renderers import ORJSONRenderer

logger = logging.getLogger(__name__)

# A dependency slower than this is as good as down for a readiness probe.
CHECK_TIMEOUT_SECONDS = 2.0


def _json(data: dict[str, object]) -> HttpResponse:
    # Encoded as the API encodes its answers (taskmanager.renderers).
    return HttpResponse(ORJSONRenderer().render(data), content_type="application/json")


# Read-only views that refuse writes with 405: a write is never a CSRF question.
@csrf_exempt
def health(request: HttpRequest) -> HttpResponse:
    """Liveness: answers while the process runs; touches no dependency."""
    return _refuse_writes(request) or _json({"status": "ok"})


@csrf_exempt
def ready(request: HttpRequest) -> HttpResponse:
    """Readiness: a database query, a cache round trip and a channel-layer round trip,
    each with its latency; 503 naming each one that failed or did not answer in time."""
    refused = _refuse_writes(request)
    if refused:
        return refused
    checks: dict[str, Callable[[], None]] = {
        "database": _check_database,
        "cache": _check_cache,
        "channel_layer": _check_channel_layer,
    }
    results: dict[str, dict[str, object]] = {}
    failures: dict[str, list[str]] = {}
    for name, (fault, seconds) in _run_checks(checks).items():
        if isinstance(fault, TimeoutError):
            logger.warning("readiness: %s did not answer within %s s", name, CHECK_TIMEOUT_SECONDS)
        elif fault is not None:
            # The kind of fault only: the details (hosts, ports) go to the log.
            logger.warning("readiness: %s failed: %s: %s", name, type(fault).__name__, fault)
        if fault is not None:
            failures[name] = [type(fault).__name__]
        results[name] = {"ok": fault is None, "latency_ms": round(seconds * 1000, 2)}
    if failures:
        message = f"Not ready: {', '.join(failures)}."
        return error_response(503, "not_ready", message, failures)
    return _json({"status": "ok", "checks": results})


def _run_checks(
    checks: dict[str, Callable[[], None]],
) -> dict[str, tuple[Exception | None, float]]:
    """Each check's fault (None when it passed) and its duration, all within
    CHECK_TIMEOUT_SECONDS.

    The checks run side by side in threads of their own, so a dependency that hangs
    holds the probe for the deadline only, not for its driver's timeouts on top of the
    others' (under daphne this view runs in the one thread every sync view and
    consumer call shares). A check that has not answered by the deadline is a
    TimeoutError; its thread is left to finish on its own (the drivers' timeouts end
    it) and nobody waits for it.
    """
    started = time.perf_counter()
    executor = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readiness")
    # A copy of the request's context each, so what a check logs has the request id.
    futures = {
        name: executor.submit(contextvars.copy_context().run, _timed, check)
        for name, check in checks.items()
    }
    executor.shutdown(wait=False)
    wait(futures.values(), timeout=CHECK_TIMEOUT_SECONDS)
    outcomes: dict[str, tuple[Exception | None, float]] = {}
    for name, future in futures.items():
        if future.done():
            outcomes[name] = future.result()
        else:
            outcomes[name] = (TimeoutError(), time.perf_counter() - started)
    return outcomes


def _timed(check: Callable[[], None]) -> tuple[Exception | None, float]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return exc, time.perf_counter() - started
    return None, time.perf_counter() - started


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text: this process's metrics, or, with PROMETHEUS_MULTIPROC_DIR set
    (gunicorn's workers), those of every process sharing that directory, summed."""
    refused = _refuse_writes(request)
    if refused:
        return refused
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if not token and not _inside(client_ip(request)):
        # Without a token, only the host and its private network (Prometheus beside the
        # app, as in docker-compose) read metrics: a public client gets nginx's 404.
        return error_response(404, "not_found", NOT_FOUND_MESSAGE)
    if token and not constant_time_compare(given, f"Bearer {token}"):
        return error_response(
            401,
            "not_authenticated",
            'Metrics need the metrics token: send "Authorization: Bearer <METRICS_TOKEN>".',
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = REGISTRY
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        _forget_dead_processes(directory)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    text = generate_latest(registry) + generate_latest(state.registry())
    return HttpResponse(text, content_type=CONTENT_TYPE_LATEST)


# A live gauge's file per process: gauge_livesum_<pid>.db.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges (open WebSockets) of processes that died without saying
    so: gunicorn reports a dead worker (gunicorn.conf.py), uvicorn's supervisor
    (realtime.socket_server --workers) does not."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for pid in {int(m.group(1)) for m in map(_LIVE_GAUGE_FILE.fullmatch, names) if m}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, directory)
        except PermissionError:
            pass  # alive, another user's


def _inside(address: str) -> bool:
    if address == "":
        return True  # a Unix socket's peer (gunicorn under make serve): this host
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def _check_database() -> None:
    # In a readiness thread: its connection goes back (to psycopg's pool) at once,
    # not whenever the thread is collected.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def _check_cache() -> None:
    # django-redis swallows Redis errors (the API degrades to the database), so a
    # value must come back to prove the round trip.
    key, value = f"ready:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    found = cache.get(key)
    cache.delete(key)
    if found != value:
        raise ConnectionError("the cache did not return what was stored")


def _check_channel_layer() -> None:
    async_to_sync(_channel_layer_round_trip)()


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise ConnectionError("no channel layer is configured")
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    message = {"type": "ready.check", "token": token}
    await asyncio.wait_for(layer.send(channel, message), CHECK_TIMEOUT_SECONDS)
    message = await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT_SECONDS)
    if message.get("token") != token:
        raise ConnectionError("the channel layer returned another message")


def _refuse_writes(request: HttpRequest) -> HttpResponse | None:
    if request.method in ("GET", "HEAD"):
        return None
    return error_response(
        405,
        "method_not_allowed",
        method_not_allowed_message(request.method),
        headers={"Allow": "GET, HEAD"},
    )
