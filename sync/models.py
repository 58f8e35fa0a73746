from django.conf import settings
from django.db import models


class DeletedProjectMember(models.Model):
    """A member of a project at its deletion: they may read its `project.deleted`
    event, which the outbox's rule (members as they are when it is read) no longer
    gives them once the memberships are gone with the project. Written in the
    deleting transaction (sync.services.deletion_readers_record), pruned with the
    events."""

    # The `project.deleted` event's id; no foreign key, as the outbox's own ids.
    event_id = models.BigIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            # Also the index of a user's deletions after a cursor: WHERE user_id = ?
            # AND event_id > ?.
            models.UniqueConstraint(fields=["user", "event_id"], name="sync_deleted_member_unique"),
        ]
        indexes = [
            # The pruning: WHERE event_id < (the oldest event kept).
            models.Index(fields=["event_id"], name="sync_deleted_member_event"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} read deletion event {self.event_id}"
