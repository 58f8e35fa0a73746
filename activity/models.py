from django.conf import settings
from django.db import models


class Event(models.Model):
    """One change a client may want to know about, of any kind (`task.updated`, ...),
    written in the same transaction as the change: the history, the feed and the
    outbox that delivery (sockets) reads after commit.

    `subject_id` is the changed object's id, without a foreign key: events outlive
    what they describe. Who may read it (activity.kinds): the members of `project`
    (and of `previous_project`, which a task just left) as they are when it is read,
    and the users the other columns name, fixed when it is recorded (the member a
    membership event is about; version 1's task events named owner and assignees).
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=64)
    subject_id = models.BigIntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The object as it was after the change (before it, for a deletion).
    data = models.JSONField(default=dict)
    # Each changed field's [old, new].
    changes = models.JSONField(default=dict)
    # Ids, not foreign keys: a project's events outlive it.
    project_id = models.BigIntegerField(null=True)
    previous_project_id = models.BigIntegerField(null=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        db_constraint=False,
        # Its `(owner, id)` index below serves every lookup by owner.
        db_index=False,
        null=True,
        related_name="+",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        # Its `(assignee, id)` index below serves every lookup by assignee.
        db_index=False,
        null=True,
        related_name="+",
    )
    previous_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        # Its `(previous_assignee, id)` index below serves every lookup by previous_assignee.
        db_index=False,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The same for every event of one transaction (activity.services): readers that
    # page through events (sync) end a page between transactions, never inside one.
    transaction_key = models.BigIntegerField(null=True, editable=False)

    class Meta:
        indexes = [
            # An object's history: WHERE subject_id = ? AND type IN (...) ORDER BY id.
            models.Index(fields=["subject_id", "id"], name="activity_event_subject"),
            # A user's feed: WHERE id > ? AND (project_id IN (mine) OR
            # previous_project_id IN (mine) OR owner_id = me OR assignee_id = me OR
            # previous_assignee_id = me) ORDER BY id.
            models.Index(fields=["project_id", "id"], name="activity_event_project"),
            models.Index(fields=["previous_project_id", "id"], name="activity_event_prev_project"),
            models.Index(fields=["owner", "id"], name="activity_event_owner"),
            models.Index(fields=["assignee", "id"], name="activity_event_assignee"),
            models.Index(fields=["previous_assignee", "id"], name="activity_event_prev_assignee"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject_id}"

    @property
    def kind(self) -> str:
        """The kind of object changed: `task` for `task.updated`."""
        return self.type.partition(".")[0]

    @property
    def action(self) -> str:
        """What happened to it: `updated` for `task.updated`."""
        return self.type.partition(".")[2]
