from typing import Any

from rest_framework import serializers

from notifications.models import Notification, NotificationKind
from notifications.state import STATE_FIELDS, notification_state
from projects.serializers import UserRefSerializer


# Written out rather than through the fields, as tasks.serializers does.
class NotificationOutputSerializer(serializers.ModelSerializer[Notification]):
    """Something another user did that concerns you: `assigned` you `task`,
    `mentioned` you in `comment`, or `commented` on a task you own or are assigned.
    `comment` is null for an assignment and once the comment is deleted, `actor` once
    that account is deleted; `read_at` is null until you read it."""

    kind = serializers.ChoiceField(choices=NotificationKind.choices, read_only=True)
    task = serializers.IntegerField(source="task_id", read_only=True)
    comment = serializers.IntegerField(source="comment_id", read_only=True, allow_null=True)
    actor = UserRefSerializer(read_only=True, allow_null=True)

    def to_representation(self, instance: Notification) -> dict[str, Any]:
        return notification_state(instance)

    class Meta:
        model = Notification
        fields = list(STATE_FIELDS)
        read_only_fields = fields


class ReadAllOutputSerializer(serializers.Serializer):
    updated = serializers.IntegerField(
        min_value=0, help_text="How many notifications were unread, and now are read."
    )


class NotificationListQuerySerializer(serializers.Serializer):
    unread = serializers.ChoiceField(
        choices=[("true", "true"), ("false", "false")],
        required=False,
        help_text="`true`: only those you have not read; `false`: only those you have.",
    )
