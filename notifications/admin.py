"""Notifications in the Django admin: read only (derived from events by the services)."""

from django.contrib import admin

from notifications.models import Notification
from taskmanager.admin_base import ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "kind", "task", "comment", "actor", "created_at", "read_at"]
    list_select_related = ["user", "task", "comment", "actor"]
    list_filter = ["kind"]
    raw_id_fields = ["user", "task", "comment", "actor"]
    ordering = ["-id"]
    readonly_fields = ("user", "kind", "task", "comment", "actor", "created_at", "read_at")
    fields = readonly_fields
