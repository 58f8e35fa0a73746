from django.conf import settings
from django.db import models
from django.utils import timezone

from tasks.models import Task


class Comment(models.Model):
    """A remark on a task, by its author, naming the project members it mentions. Its
    own object: writing one changes neither the task's version nor its `updated_at`."""

    # No single-column index: `comments_task` leads with it.
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="comments", db_index=False
    )
    # Kept, without its author, when the account is deleted.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="comments",
    )
    body = models.TextField()
    # The members an `@username` of the body named when it was last written.
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in"
    )
    # Set by the services: a new comment's two are the same instant.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set by the first change of the body.
    edited = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(body=""), name="comments_body_not_empty"),
        ]
        indexes = [
            # A task's comments, oldest first: WHERE task_id = ? ORDER BY id.
            models.Index(fields=["task", "id"], name="comments_task"),
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on task {self.task_id}"
