"""Webhooks in the Django admin: see them and their deliveries, turn one off or on,
delete one. Secrets never appear; registering and rotation are the API's."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from taskmanager.admin_base import ReadOnlyAdmin
from webhooks.models import Attempt, Delivery, Webhook, WorkerHeartbeat


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin[Webhook]):
    list_display = [
        "id",
        "url",
        "project",
        "is_active",
        "consecutive_failures",
        "last_delivery_at",
        "created_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    list_select_related = ["project"]
    fields = [
        "url",
        "project",
        "event_types",
        "description",
        "is_active",
        "disabled_reason",
        "consecutive_failures",
        "last_delivery_at",
        "created_by",
        "created_at",
    ]
    readonly_fields = [
        "url",
        "project",
        "event_types",
        "disabled_reason",
        "consecutive_failures",
        "last_delivery_at",
        "created_by",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the secret is shown once, by the API


class AttemptInline(admin.TabularInline[Attempt, Delivery]):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "duration_ms", "status_code", "error", "response_body"]
    readonly_fields = ["number", "at", "duration_ms", "status_code", "error", "response_body"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "webhook", "event_type", "message_id", "status", "attempts", "created_at"]
    list_filter = ["status"]
    list_select_related = ["webhook"]
    inlines = [AttemptInline]
    exclude = ["payload"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["worker_id", "started_at", "seen_at"]
