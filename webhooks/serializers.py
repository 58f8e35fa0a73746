import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activity import kinds
from taskmanager.datetimes import datetime_out
from taskmanager.serializers import StrictFieldsMixin
from webhooks import transport
from webhooks.models import Attempt, Delivery, Webhook

MAX_EVENT_TYPES = 100
URL_SHAPE = (
    "Enter an https URL: a host name, then a path and query of letters, digits and"
    " -._~!$&'()*+,;=:@/? (others percent-encoded), with no user name and no fragment."
)
# What the schema can say of a webhook URL, and the server holds too: https, a host
# of ASCII letters, digits, dots and hyphens (a port, an IPv6 literal in brackets), no
# credentials, a path and query of the characters RFC 3986 allows (others
# percent-encoded), no fragment. webhooks.transport.check_url checks the rest.
URL_PATTERN = (
    r"^https://[-A-Za-z0-9.:\[\]]+"
    r"(?:[/?](?:[-A-Za-z0-9._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?$"
)


def event_types() -> list[str]:
    """Every event type a webhook may ask for (activity.kinds)."""
    return sorted(t for kind in kinds.registered() for t in kind.types)


class WebhookOutputSerializer(serializers.ModelSerializer[Webhook]):
    """A webhook. `project` is null for a site admin's webhook that receives every
    event; `event_types` empty receives all types. A webhook turned off by failures
    (or a 410) says why in `disabled_reason`, until it is turned on again."""

    project = serializers.IntegerField(source="project_id", allow_null=True, read_only=True)
    event_types = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Webhook
        fields = [
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
        ]
        read_only_fields = fields


class WebhookSecretOutputSerializer(WebhookOutputSerializer):
    """A webhook with its signing secret, shown only here (at creation and rotation):
    keep it, it cannot be read again."""

    secret = serializers.CharField(read_only=True, help_text="`whsec_` and base64.")

    class Meta(WebhookOutputSerializer.Meta):
        fields = [*WebhookOutputSerializer.Meta.fields, "secret"]
        read_only_fields = fields


@extend_schema_field(
    {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2000, "pattern": URL_PATTERN}
)
class WebhookUrlField(serializers.CharField):
    """https (http only where the server allows it), no credentials; the host's
    addresses are checked again at every delivery."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=2000, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            transport.check_url(
                value,
                allow_http=settings.WEBHOOK_ALLOW_HTTP,
                allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
            )
        except transport.UnsafeURLError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc
        # http:// gets here only where the server allows it; it is held to the same shape.
        shaped = "https://" + value[len("http://") :] if value.startswith("http://") else value
        if not re.match(URL_PATTERN, shaped):
            raise serializers.ValidationError(URL_SHAPE, code="invalid")
        return value


class EventTypesField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=serializers.CharField(max_length=64),
            max_length=MAX_EVENT_TYPES,
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> list[str]:
        value = super().to_internal_value(data)
        known = set(event_types())
        unknown = sorted({t for t in value if t not in known})
        if unknown:
            raise serializers.ValidationError(
                [f"Unknown event type {t!r}." for t in unknown[:10]], code="invalid"
            )
        return sorted(set(value))


class WebhookCreateInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """`project`: the project whose events it receives (you are its admin); null or
    left out: every event of every project (site admins only)."""

    url = WebhookUrlField()
    project = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, default=None
    )
    event_types = EventTypesField(required=False, default=list)
    description = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Any of these; `is_active: true` turns a disabled webhook on again (and clears
    `disabled_reason` and `consecutive_failures`). The project cannot change."""

    url = WebhookUrlField(required=False)
    event_types = EventTypesField(required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class AttemptOutputSerializer(serializers.ModelSerializer[Attempt]):
    """One POST: the endpoint's status (null when it did not answer: `error` says
    why), how long it took, and the first 1 KB of its answer."""

    class Meta:
        model = Attempt
        fields = ["number", "at", "duration_ms", "status_code", "response_body", "error"]
        read_only_fields = fields


class DeliveryOutputSerializer(serializers.ModelSerializer[Delivery]):
    """One event to one webhook: `message_id` is its `webhook-id` header (the event's
    id, the same on every attempt), `attempts` how many were made, `log` each of them.
    `next_attempt_at` is when it is sent again while `pending`."""

    log = AttemptOutputSerializer(source="attempt_log", many=True, read_only=True)
    next_attempt_at = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_attempt_at(self, delivery: Delivery) -> str | None:
        if delivery.status != Delivery.Status.PENDING:
            return None
        return datetime_out(delivery.next_attempt_at)

    class Meta:
        model = Delivery
        fields = [
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
        ]
        read_only_fields = fields


class DeliveryListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Delivery.Status.choices, required=False, help_text="Only deliveries in this state."
    )
