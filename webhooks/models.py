"""Webhooks (docs/webhooks.md): where events go, each delivery of one event to one
webhook, and every attempt of it (the delivery log)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Webhook(models.Model):
    """An endpoint that receives the events of a project (or, without one, every
    event: a site admin's). The secrets sign; during a rotation the previous one
    signs too until `previous_secret_expires_at`."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    url = models.CharField(max_length=2000)
    # Event types (`task.updated`, ...) it receives; empty: all of them.
    event_types = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The outbox position when it was registered: it receives the events after it.
    since_event_id = models.BigIntegerField(default=0)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        permissions = [("manage_any_webhook", "Can manage every webhook, and global ones")]
        indexes = [models.Index(fields=["project", "id"], name="webhooks_webhook_project")]

    def __str__(self) -> str:
        return f"webhook {self.pk} to {self.url}"


class Delivery(models.Model):
    """One event (or a test message) to one webhook: its body, fixed at the start so
    that every retry sends the same bytes under the same `webhook-id`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # The `webhook-id` header: the event's id, or `test_<uuid>` for a test message.
    message_id = models.CharField(max_length=64)
    event_id = models.BigIntegerField(null=True)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # While DELIVERING: the attempt is given up (and made again) after this.
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The worker's claim: what is due, oldest first.
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due",
                condition=Q(status__in=["pending", "delivering"]),
            ),
            # A sender's next delivery of its webhook, and the in-flight count.
            models.Index(
                fields=["webhook", "next_attempt_at", "id"],
                name="webhooks_delivery_webhook_due",
                condition=Q(status__in=["pending", "delivering"]),
            ),
            models.Index(fields=["webhook", "-id"], name="webhooks_delivery_log"),
            models.Index(fields=["finished_at"], name="webhooks_delivery_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} to webhook {self.webhook_id}"


class Attempt(models.Model):
    """One POST of a delivery: what the endpoint answered (or why there was no answer)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    # The first 1 KB of the answer's body.
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class DispatchCursor(models.Model):
    """The last outbox event turned into deliveries (one row). Events commit in id
    order (activity.services), so everything after it is still to dispatch."""

    last_event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"dispatched up to event {self.last_event_id}"


class WorkerHeartbeat(models.Model):
    """A `db_worker` process, as it last said it was alive (every few seconds)."""

    worker_id = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.worker_id
