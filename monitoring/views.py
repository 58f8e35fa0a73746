import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from taskmanager.exceptions import error_body

logger = logging.getLogger(__name__)

# A dependency slower than this is as good as down for a readiness probe.
CHECK_TIMEOUT_SECONDS = 2.0


def health(request: HttpRequest) -> JsonResponse:
    """Liveness: answers while the process runs; touches no dependency."""
    return _refuse_writes(request) or JsonResponse({"status": "ok"})


def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: a database query, a cache round trip and a channel-layer round trip,
    each with its latency; 503 naming each one that failed."""
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
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            # The kind of fault only: the details (hosts, ports) go to the log.
            logger.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
            failures[name] = [type(exc).__name__]
        results[name] = {
            "ok": name not in failures,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
    if failures:
        message = f"Not ready: {', '.join(failures)}."
        return JsonResponse(error_body("not_ready", message, failures), status=503)
    return JsonResponse({"status": "ok", "checks": results})


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text: this process's metrics, or, with PROMETHEUS_MULTIPROC_DIR set
    (gunicorn's workers), those of every process sharing that directory, summed."""
    refused = _refuse_writes(request)
    if refused:
        return refused
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and not constant_time_compare(given, f"Bearer {token}"):
        response = JsonResponse(
            error_body("not_authenticated", "Give the metrics token as a Bearer token."),
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


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


def _refuse_writes(request: HttpRequest) -> JsonResponse | None:
    if request.method in ("GET", "HEAD"):
        return None
    response = JsonResponse(
        error_body("method_not_allowed", f'Method "{request.method}" not allowed.'),
        status=405,
    )
    response["Allow"] = "GET, HEAD"
    return response
