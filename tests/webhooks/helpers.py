"""Helpers only the webhook tests use; the receiver is in tests/webhooks/receiver.py."""

from typing import Any

from standardwebhooks import Webhook as Verifier

from accounts.models import User
from webhooks import sending, services
from webhooks.models import Webhook

WEBHOOKS_URL = "/api/v1/webhooks/"
TASKS_URL = "/api/v1/tasks/"

WEBHOOK_SHAPE = {
    "id",
    "url",
    "project",
    "event_types",
    "is_active",
    "description",
    "created_at",
    "last_delivery_at",
    "consecutive_failures",
    "disabled_reason",
}
DELIVERY_SHAPE = {
    "id",
    "message_id",
    "event_id",
    "event_type",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "finished_at",
    "last_status_code",
    "log",
}
ATTEMPT_SHAPE = {"number", "at", "duration_ms", "status_code", "response_body", "error"}


def webhook_url(webhook: Any) -> str:
    pk = webhook["id"] if isinstance(webhook, dict) else getattr(webhook, "pk", webhook)
    return f"{WEBHOOKS_URL}{pk}/"


def deliveries_url(webhook: Any) -> str:
    return f"{webhook_url(webhook)}deliveries/"


def new_webhook(
    actor: User, url: str, project: Any = None, event_types: list[str] | None = None
) -> Webhook:
    """A webhook registered through the service, as the API does."""
    return services.webhook_create(
        actor=actor,
        project_id=getattr(project, "pk", project),
        url=url,
        event_types=event_types or [],
        description="",
    )


def deliver() -> int:
    """What the worker does every second, in this thread: outbox events to deliveries,
    then every due delivery sent; how many were sent."""
    services.dispatch_events()
    return sending.send_due()


def verified(secret: str, request: Any) -> Any:
    """The body of a received request, after `standardwebhooks` verified its signature
    with `secret` (it raises WebhookVerificationError otherwise)."""
    return Verifier(secret).verify(request.body, request.headers)


def signatures(request: Any) -> list[str]:
    return str(request.headers["webhook-signature"]).split(" ")
