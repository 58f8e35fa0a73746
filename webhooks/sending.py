"""The HTTP side of deliveries, in the worker process: a pool of sender threads, each
following one webhook's due deliveries ("a lane") until none is due, so that a slow
or dead endpoint holds at most IN_FLIGHT_PER_WEBHOOK threads and the others go on."""

import email.utils
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from taskmanager.metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS
from webhooks import services, signing, transport
from webhooks.models import Delivery

logger = logging.getLogger(__name__)

# Sender threads of a worker process (each with its own database connection). SQLite
# has one writer at a time: more threads would only wait on its lock.
THREADS = 16
SQLITE_THREADS = 2
# Deliveries claimed at once when the pool is pumped.
CLAIM_BATCH = 64


def body_of(delivery: Delivery) -> bytes:
    """The bytes signed and sent: the same for every attempt of a delivery."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def attempt(delivery: Delivery, *, claim_next: bool = False) -> services.Outcome:
    """One POST of a claimed delivery, its answer logged (services.record_attempt);
    with `claim_next`, the webhook's next due delivery comes back in `Outcome.next`."""
    webhook = delivery.webhook
    now = timezone.now()
    body = body_of(delivery)
    headers = signing.headers(
        message_id=delivery.message_id,
        timestamp=now,
        body=body,
        secrets_=services.secrets_of(webhook, now),
    )
    started = time.perf_counter()
    status_code: int | None = None
    answer_body, error, retry_after = b"", "", None
    try:
        answer = transport.post(
            webhook.url,
            body,
            headers,
            timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS),
            allow_http=settings.WEBHOOK_ALLOW_HTTP,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
        )
    except transport.DeliveryRefused as exc:
        error = f"refused: {exc}"
    except transport.TransportError as exc:
        error = str(exc) or type(exc).__name__
    else:
        status_code, answer_body = answer.status, answer.body
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
    duration = time.perf_counter() - started
    outcome = services.record_attempt(
        delivery=delivery,
        at=now,
        duration=duration,
        status_code=status_code,
        body=answer_body,
        error=error,
        retry_after=retry_after,
        claim_next=claim_next,
    )
    WEBHOOK_ATTEMPTS.labels(outcome=outcome.result).inc()
    WEBHOOK_ATTEMPT_SECONDS.observe(duration)
    if outcome.result == "retry" and outcome.retry_at is not None:
        from webhooks.tasks import request_delivery

        request_delivery(outcome.retry_at)
    return outcome


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def send_due(limit: int = 1000) -> int:
    """Claim and send due deliveries one after the other in this thread, until none is
    due or `limit` were sent (tests, and a worker without threads); how many."""
    sent = 0
    while sent < limit:
        claimed = services.claim(limit=min(CLAIM_BATCH, limit - sent))
        if not claimed:
            return sent
        for delivery in claimed:
            attempt(delivery)
        sent += len(claimed)
    return sent


class Senders:
    """The worker process's sender threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The caretaker and the worker's tasks both pump: one at a time, so that two
        # never count the same idle threads.
        self._pumping = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._lanes = 0

    def pump(self) -> int:
        """Claim what is due, no more than there are idle threads, and start a lane for
        each claimed delivery; how many. (A delivery claimed for a busy pool would wait
        in its queue past its lease, be claimed again and be sent twice.)"""
        with self._pumping:
            idle = self.threads() - self.busy()
            if idle <= 0:
                return 0
            claimed = services.claim(limit=min(CLAIM_BATCH, idle))
            for delivery in claimed:
                self._start(delivery)
            return len(claimed)

    def busy(self) -> int:
        with self._lock:
            return self._lanes

    @staticmethod
    def threads() -> int:
        return SQLITE_THREADS if connection.vendor == "sqlite" else THREADS

    def _start(self, delivery: Delivery) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads(), thread_name_prefix="webhook-sender")
            self._lanes += 1
            self._pool.submit(self._lane, delivery)

    def _lane(self, delivery: Delivery | None) -> None:
        try:
            while delivery is not None:
                # The POST may last the whole timeout: meanwhile this thread's database
                # connection goes back to the pool, where the caretaker and the other
                # lanes need it (slow endpoints would otherwise hold every one).
                connection.close()
                sending = delivery
                try:
                    # The answer recorded and the webhook's next delivery claimed in one
                    # transaction: this lane's slot passes on to it.
                    delivery = attempt(sending, claim_next=True).next
                except Exception:
                    # Its lease runs out and it is attempted again.
                    logger.exception("webhook delivery %s: the attempt failed", sending.pk)
                    return
        finally:
            with self._lock:
                self._lanes -= 1
            close_old_connections()


_senders = Senders()


def senders() -> Senders:
    return _senders
