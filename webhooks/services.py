"""Webhooks: registering them, turning outbox events into deliveries, and the life
of a delivery (claimed, answered, retried, given up). The HTTP side is
webhooks.sending; when each step runs, webhooks.tasks and docs/webhooks.md."""

import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from accounts.models import User
from activity.models import Event
from activity.selectors import event_message
from taskmanager.datetimes import datetime_out
from webhooks import signing
from webhooks.models import Attempt, Delivery, DispatchCursor, Webhook

# The Standard Webhooks schedule: the delay before attempt n+1 after attempt n fails
# (the first attempt is at once); after the last, the delivery has failed.
RETRY_DELAYS = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Each delay is stretched or shrunk by up to this fraction: retries of many
# deliveries that failed together do not all come back in the same second.
JITTER = 0.1
# A Retry-After longer than this is not waited for (the schedule's last delay).
MAX_RETRY_AFTER = 24 * 3600
# Deliveries of one webhook in flight at once: a slow endpoint holds at most this
# many senders, whatever its backlog.
IN_FLIGHT_PER_WEBHOOK = 4
# Rotation: the previous secret keeps signing this long.
ROTATION_OVERLAP = timedelta(hours=24)
# Kept in the delivery log this long after they finish.
LOG_RETENTION = timedelta(days=30)
RESPONSE_KEPT = 1024
DISPATCH_BATCH = 500


# --- registration -------------------------------------------------------------------


def webhook_create(
    *,
    actor: User,
    project_id: int | None,
    url: str,
    event_types: list[str],
    description: str,
    is_active: bool = True,
) -> Webhook:
    """A webhook with a new secret (shown once, by the caller), receiving the events
    recorded after this moment."""
    with transaction.atomic():
        cursor = _cursor()
        latest = Event.objects.aggregate(latest=Max("id"))["latest"] or 0
        webhook = Webhook.objects.create(
            project_id=project_id,
            url=url,
            event_types=sorted(set(event_types)),
            description=description,
            is_active=is_active,
            created_by=actor,
            secret=signing.new_secret(),
            since_event_id=max(latest, cursor.last_event_id),
        )
    interest.forget()
    return webhook


def webhook_update(*, webhook: Webhook, data: dict[str, Any]) -> Webhook:
    """Change the fields given. Turning a webhook on again clears why it was off and
    its count of failures."""
    for name, value in data.items():
        setattr(webhook, name, sorted(set(value)) if name == "event_types" else value)
    if data.get("is_active"):
        webhook.disabled_reason = ""
        webhook.consecutive_failures = 0
    webhook.save()
    interest.forget()
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()
    interest.forget()


def webhook_rotate_secret(*, webhook: Webhook) -> Webhook:
    """A new secret; the current one signs too for ROTATION_OVERLAP."""
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
        locked.secret = signing.new_secret()
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return locked


def webhook_test(*, webhook: Webhook, actor: User) -> Delivery:
    """A `webhook.test` message, delivered as any event (and logged)."""
    now = timezone.now()
    message_id = f"test_{uuid.uuid4().hex}"
    data = {"webhook": webhook.pk, "actor": actor.pk, "message": "A test from Taskmanager."}
    delivery = Delivery.objects.create(
        webhook=webhook,
        message_id=message_id,
        event_type="webhook.test",
        payload={"type": "webhook.test", "timestamp": datetime_out(now), "data": data},
        next_attempt_at=now,
    )
    transaction.on_commit(wake_senders, robust=True)
    return delivery


def delivery_retry(*, delivery: Delivery) -> Delivery:
    """Send a logged delivery again now (the same `webhook-id` and body), with the
    whole retry schedule ahead of it."""
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status == Delivery.Status.DELIVERING:
            return locked  # already on its way
        locked.status = Delivery.Status.PENDING
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.finished_at = None
        locked.lease_until = None
        locked.save()
        transaction.on_commit(wake_senders, robust=True)
    return locked


def secrets_of(webhook: Webhook, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous during a rotation."""
    found = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires > now:
        found.append(webhook.previous_secret)
    return found


# --- from the outbox to deliveries ------------------------------------------------


class _Interest:
    """Whether any active webhook may want events of these projects: read at most every
    few seconds per process, so that a write with no webhook around pays nothing.
    Staleness only delays a trigger: the worker reads the outbox every second anyway."""

    TTL = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._projects: frozenset[int] = frozenset()
        self._global = False

    def wants(self, events: Sequence[Event]) -> bool:
        with self._lock:
            if time.monotonic() - self._read_at > self.TTL:
                rows = Webhook.objects.filter(is_active=True).values_list("project_id", flat=True)
                projects = set(rows)
                self._global = None in projects
                self._projects = frozenset(p for p in projects if p is not None)
                self._read_at = time.monotonic()
            if self._global:
                return True
            return any(
                event.project_id in self._projects or event.previous_project_id in self._projects
                for event in events
            )

    def forget(self) -> None:
        with self._lock:
            self._read_at = 0.0


interest = _Interest()


def on_events(events: Sequence[Event]) -> None:
    """Subscribed to the outbox (after commit): wake the dispatcher when a webhook may
    want these events. The events themselves are read back from the outbox."""
    if events and interest.wants(events):
        from webhooks.tasks import request_dispatch

        request_dispatch()


def _cursor() -> DispatchCursor:
    cursor = DispatchCursor.objects.select_for_update().filter(pk=1).first()
    if cursor is None:
        latest = Event.objects.aggregate(latest=Max("id"))["latest"] or 0
        cursor, _ = DispatchCursor.objects.get_or_create(pk=1, defaults={"last_event_id": latest})
    return cursor


def dispatch_events(limit: int = DISPATCH_BATCH) -> tuple[int, int]:
    """Turn the outbox events after the cursor into deliveries for the webhooks that
    want them, and move the cursor, in one transaction. (events read, deliveries made)."""
    with transaction.atomic():
        cursor = _cursor()
        events = list(Event.objects.filter(id__gt=cursor.last_event_id).order_by("id")[:limit])
        if not events:
            return 0, 0
        webhooks = list(Webhook.objects.filter(is_active=True))
        now = timezone.now()
        deliveries = [
            Delivery(
                webhook=webhook,
                message_id=str(event.pk),
                event_id=event.pk,
                event_type=event.type,
                payload=payload_of(event),
                next_attempt_at=now,
            )
            for event in events
            for webhook in webhooks
            if wants(webhook, event)
        ]
        Delivery.objects.bulk_create(deliveries, batch_size=500)
        cursor.last_event_id = events[-1].pk
        cursor.save(update_fields=["last_event_id"])
    return len(events), len(deliveries)


def dispatch_all() -> None:
    """dispatch_events until the outbox has nothing left after the cursor."""
    while dispatch_events()[0] == DISPATCH_BATCH:
        pass


def wants(webhook: Webhook, event: Event) -> bool:
    if event.pk <= webhook.since_event_id:
        return False
    if webhook.event_types and event.type not in webhook.event_types:
        return False
    if webhook.project_id is None:
        return True
    return webhook.project_id in (event.project_id, event.previous_project_id)


def payload_of(event: Event) -> dict[str, Any]:
    """The body: `{"type", "timestamp", "data"}`, `data` the event as sockets get it."""
    return {
        "type": event.type,
        "timestamp": datetime_out(event.created_at),
        "data": event_message(event),
    }


# --- a delivery's life ---------------------------------------------------------------


def lease_seconds() -> float:
    return float(settings.WEBHOOK_TIMEOUT_SECONDS) + float(settings.WEBHOOK_LEASE_MARGIN_SECONDS)


def claim(*, limit: int, webhook_id: int | None = None) -> list[Delivery]:
    """Take up to `limit` due deliveries of active webhooks (an attempt whose lease ran
    out is due again), at most IN_FLIGHT_PER_WEBHOOK of each webhook in flight, and
    mark them as being delivered: each is sent once, by whoever claimed it."""
    with transaction.atomic():
        return _claim_locked(limit=limit, webhook_id=webhook_id, counted=True)


def _claim_locked(*, limit: int, webhook_id: int | None, counted: bool) -> list[Delivery]:
    """claim's work, in the caller's transaction; `counted=False` for a sender that
    passes its own slot on (its webhook's in-flight count does not grow)."""
    now = timezone.now()
    due = Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Delivery.Status.DELIVERING, lease_until__lt=now
    )
    candidates = Delivery.objects.filter(due, webhook__is_active=True)
    if webhook_id is not None:
        candidates = candidates.filter(webhook_id=webhook_id)
    rows = list(
        candidates.select_for_update(skip_locked=True, of=("self",))
        .select_related("webhook")
        .order_by("next_attempt_at", "id")[: limit if not counted else limit * 4]
    )
    if not rows:
        return []
    in_flight: dict[int, int] = {}
    if counted:
        in_flight = dict(
            Delivery.objects.filter(
                status=Delivery.Status.DELIVERING,
                lease_until__gte=now,
                webhook_id__in={row.webhook_id for row in rows},
            )
            .values_list("webhook_id")
            .annotate(n=Count("id"))
        )
    chosen: list[Delivery] = []
    for row in rows:
        if len(chosen) == limit:
            break
        if counted and in_flight.get(row.webhook_id, 0) >= IN_FLIGHT_PER_WEBHOOK:
            continue
        in_flight[row.webhook_id] = in_flight.get(row.webhook_id, 0) + 1
        chosen.append(row)
    lease_until = now + timedelta(seconds=lease_seconds())
    Delivery.objects.filter(pk__in=[row.pk for row in chosen]).update(
        status=Delivery.Status.DELIVERING, attempts=F("attempts") + 1, lease_until=lease_until
    )
    for row in chosen:
        row.status, row.attempts, row.lease_until = (
            Delivery.Status.DELIVERING,
            row.attempts + 1,
            lease_until,
        )
    return chosen


@dataclass(frozen=True)
class Outcome:
    """What an attempt came to: `delivered`, `retry` (at `retry_at`), `failed` (no
    attempt left) or `gone` (410: the webhook is disabled); `stale` when the attempt
    had been given up meanwhile (its answer is not recorded)."""

    result: str
    retry_at: datetime | None = None
    # The webhook's next delivery, claimed for the same sender (`claim_next`).
    next: Delivery | None = None


def record_attempt(
    *,
    delivery: Delivery,
    at: datetime,
    duration: float,
    status_code: int | None,
    body: bytes = b"",
    error: str = "",
    retry_after: float | None = None,
    claim_next: bool = False,
) -> Outcome:
    """Log one attempt of a claimed delivery and decide what follows. With
    `claim_next`, the same transaction claims the webhook's next due delivery for the
    sender that made this attempt (`Outcome.next`): its slot passes on, uncounted."""
    with transaction.atomic():
        outcome = _record_locked(delivery, at, duration, status_code, body, error, retry_after)
        if claim_next and outcome.result != "stale":
            following = _claim_locked(limit=1, webhook_id=delivery.webhook_id, counted=False)
            outcome = Outcome(outcome.result, outcome.retry_at, following[0] if following else None)
    return outcome


# When this process last wrote each webhook's `last_delivery_at` after a success: a
# webhook receiving hundreds a second gets it written once a second, not each time.
# Keyed by id and creation time: an id is never another webhook's.
_last_success_written: dict[tuple[int, datetime], float] = {}
SUCCESS_WRITE_SECONDS = 1.0


def _record_locked(
    delivery: Delivery,
    at: datetime,
    duration: float,
    status_code: int | None,
    body: bytes,
    error: str,
    retry_after: float | None,
) -> Outcome:
    current = (
        Delivery.objects.select_for_update()
        .only("id", "webhook_id", "status", "attempts", "event_type")
        .filter(pk=delivery.pk, status=Delivery.Status.DELIVERING, attempts=delivery.attempts)
        .first()
    )
    if current is None:
        return Outcome("stale")
    Attempt.objects.create(
        delivery=current,
        number=current.attempts,
        at=at,
        duration_ms=max(0, round(duration * 1000)),
        status_code=status_code,
        response_body=body[:RESPONSE_KEPT].decode("utf-8", "replace"),
        error=error[:500],
    )
    now = timezone.now()
    current.last_status_code = status_code
    current.lease_until = None
    ended = ["status", "finished_at", "last_status_code", "lease_until"]
    webhooks = Webhook.objects.filter(pk=current.webhook_id)
    noted = (current.webhook_id, delivery.webhook.created_at)
    if status_code is not None and 200 <= status_code < 300:
        current.status, current.finished_at = Delivery.Status.SUCCEEDED, now
        current.save(update_fields=ended)
        written = _last_success_written.get(noted, 0.0)
        if time.monotonic() - written >= SUCCESS_WRITE_SECONDS:
            # Only when it shows a change (failures to clear, a time a second old).
            webhooks.filter(
                Q(consecutive_failures__gt=0)
                | Q(last_delivery_at__isnull=True)
                | Q(last_delivery_at__lt=now - timedelta(seconds=SUCCESS_WRITE_SECONDS))
            ).update(last_delivery_at=now, consecutive_failures=0)
            _last_success_written[noted] = time.monotonic()
        return Outcome("delivered")
    # A failure clears the note: the next success writes the webhook's row at once.
    _last_success_written.pop(noted, None)
    webhooks.update(last_delivery_at=now, consecutive_failures=F("consecutive_failures") + 1)
    if status_code == 410:
        current.status, current.finished_at = Delivery.Status.FAILED, now
        current.save(update_fields=ended)
        _disable(current.webhook_id, "The endpoint answered 410 Gone.")
        return Outcome("gone")
    if current.attempts >= MAX_ATTEMPTS:
        current.status, current.finished_at = Delivery.Status.FAILED, now
        current.save(update_fields=ended)
        _disable(
            current.webhook_id,
            f"Delivery {current.pk} ({current.event_type}) failed {current.attempts} times;"
            f" last: {_said(status_code, error)}.",
        )
        return Outcome("failed")
    retry_at = now + timedelta(seconds=retry_delay(current.attempts, retry_after))
    current.status, current.next_attempt_at = Delivery.Status.PENDING, retry_at
    current.save(update_fields=["status", "next_attempt_at", "last_status_code", "lease_until"])
    return Outcome("retry", retry_at)


def retry_delay(attempts: int, retry_after: float | None) -> float:
    """Seconds before the attempt after `attempts` failed ones: the schedule's, with
    jitter, or the endpoint's Retry-After when that is longer."""
    scheduled = RETRY_DELAYS[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
    if retry_after is not None and retry_after > scheduled:
        return min(retry_after, MAX_RETRY_AFTER)
    return scheduled


def _said(status_code: int | None, error: str) -> str:
    return f"HTTP {status_code}" if status_code is not None else (error or "no answer")


def _disable(webhook_id: int, reason: str) -> None:
    Webhook.objects.filter(pk=webhook_id, is_active=True).update(
        is_active=False, disabled_reason=reason[:500]
    )
    interest.forget()


def wake_senders() -> None:
    """Ask the worker to send what is due now (a background task)."""
    from webhooks.tasks import request_delivery

    request_delivery()


def queue_depth() -> dict[str, int]:
    """Deliveries waiting (pending) and on their way (delivering)."""
    rows = (
        Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.DELIVERING])
        .values_list("status")
        .annotate(n=Count("id"))
    )
    found = dict(rows)
    return {status: found.get(status, 0) for status in ("pending", "delivering")}


def prune_log(*, dry_run: bool, batch_size: int) -> list[tuple[int, str]]:
    """Deliveries finished more than LOG_RETENTION ago, with their attempts, and the
    heartbeats of workers gone for a day."""
    from taskmanager.batches import delete_in_batches
    from webhooks.models import WorkerHeartbeat

    old = Delivery.objects.filter(finished_at__lt=timezone.now() - LOG_RETENTION)
    gone = WorkerHeartbeat.objects.filter(seen_at__lt=timezone.now() - timedelta(days=1))
    if dry_run:
        return [(old.count(), "webhook deliveries"), (gone.count(), "worker heartbeats")]
    gone_count = gone.delete()[0]
    removed = delete_in_batches(
        old, batch_size, lambda batch: batch.order_by().delete()[1].get("webhooks.Delivery", 0)
    )
    return [(removed, "webhook deliveries"), (gone_count, "worker heartbeats")]
