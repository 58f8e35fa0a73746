from django.conf import settings
from django.db import models
from django.db.models import Q

from comments.models import Comment
from tasks.models import Task


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    MENTIONED = "mentioned", "Mentioned"
    COMMENTED = "commented", "Commented"


class Notification(models.Model):
    """Something another user did that concerns this one: assigned them a task,
    mentioned them in a comment, or commented on a task they own or are assigned.
    Recorded in the transaction of its cause (from its event: notifications.derive)."""

    # No single-column index: the composite ones below lead with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+")
    # Kept, without its comment, when the comment is deleted.
    comment = models.ForeignKey(
        Comment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=NotificationKind.values),
                name="notifications_notification_kind_known",
            ),
        ]
        indexes = [
            # A user's list, newest first: WHERE user_id = ? ORDER BY id DESC.
            models.Index(fields=["user", "-id"], name="notifications_user"),
            # `?unread=true` and read-all: the same, of the unread ones only.
            models.Index(
                fields=["user", "-id"],
                condition=Q(read_at__isnull=True),
                name="notifications_user_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user_id} on task {self.task_id}"
