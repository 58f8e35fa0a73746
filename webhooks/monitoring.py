"""What operators watch of webhooks: the queue and the worker, read from the database
(monitoring.state) and `/monitoring/ready/worker/`."""

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Count, Max, Min, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from prometheus_client.core import GaugeMetricFamily, Metric

from taskmanager.exceptions import error_response
from taskmanager.renderers import ORJSONRenderer
from webhooks import services
from webhooks.models import Delivery, WorkerHeartbeat

# A worker beats every 5 s (webhooks/management/commands/db_worker.py): one unheard
# of for this long is taken to be gone.
ALIVE_SECONDS = 30


def metrics() -> Iterable[Metric]:
    depth = GaugeMetricFamily(
        "taskmanager_webhook_queue_depth",
        "Webhook deliveries waiting (pending) and being sent (delivering).",
        labels=["state"],
    )
    for state, count in services.queue_depth().items():
        depth.add_metric([state], count)
    yield depth
    now = timezone.now()
    oldest = Delivery.objects.filter(
        status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    yield GaugeMetricFamily(
        "taskmanager_webhook_oldest_due_seconds",
        "How long the oldest due delivery has waited for a worker (0: none waits).",
        value=(now - oldest).total_seconds() if oldest else 0.0,
    )
    heard = WorkerHeartbeat.objects.aggregate(
        latest=Max("seen_at"),
        alive=Count("id", filter=Q(seen_at__gte=now - timedelta(seconds=ALIVE_SECONDS))),
    )
    latest = heard["latest"]
    yield GaugeMetricFamily(
        "taskmanager_worker_heartbeat_age_seconds",
        "Seconds since the most recent heartbeat of any background worker (db_worker).",
        value=(now - latest).total_seconds() if latest else float("inf"),
    )
    yield GaugeMetricFamily(
        "taskmanager_workers_alive",
        f"Background workers heard from in the last {ALIVE_SECONDS} s.",
        value=heard["alive"],
    )


@csrf_exempt
def worker_ready(request: HttpRequest) -> HttpResponse:
    """200 while a background worker has been heard from in the last ALIVE_SECONDS,
    else 503 `not_ready` (webhook deliveries wait; the API itself is unaffected)."""
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "method_not_allowed", "Use GET.", headers={"Allow": "GET, HEAD"})
    now = timezone.now()
    alive = list(
        WorkerHeartbeat.objects.filter(seen_at__gte=now - timedelta(seconds=ALIVE_SECONDS))
        .order_by("-seen_at")
        .values_list("worker_id", "seen_at")
    )
    if not alive:
        return error_response(
            503,
            "not_ready",
            f"No background worker has been heard from in the last {ALIVE_SECONDS} s:"
            " webhook deliveries wait until one runs (manage.py db_worker).",
            {"worker": ["not_seen"]},
        )
    body = {
        "status": "ok",
        "workers": [
            {"id": worker_id, "seen_seconds_ago": round((now - seen).total_seconds(), 1)}
            for worker_id, seen in alive
        ],
        "queue": services.queue_depth(),
    }
    return HttpResponse(ORJSONRenderer().render(body), content_type="application/json")
