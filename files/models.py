from django.conf import settings
from django.db import models


class File(models.Model):
    """An uploaded file: the bytes live in Django's default storage under a random
    `storage_name`; the name the client gave is kept as metadata only."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files", db_index=False
    )
    task = models.ForeignKey(
        "tasks.Task",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="files",
        db_index=False,
    )
    name = models.CharField(max_length=255)
    storage_name = models.CharField(max_length=255, unique=True)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [
            ("view_any_file", "Can view every file"),
            ("delete_any_file", "Can delete every file"),
        ]
        indexes = [
            # A user's files, newest first: WHERE owner_id = ? ORDER BY created_at DESC.
            models.Index(fields=["owner", "-created_at"], name="files_owner_created"),
            # A task's attachments (and their deletion with the task): WHERE task_id = ?.
            models.Index(fields=["task", "-created_at"], name="files_task_created"),
            # Everyone's files for admins: ORDER BY created_at DESC.
            models.Index(fields=["-created_at"], name="files_created"),
        ]

    def __str__(self) -> str:
        return self.name
