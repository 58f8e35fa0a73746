from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Label, Project


class Task(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    # No single-column index: the composite ones below lead with it.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    due_date = models.DateTimeField(null=True, blank=True)
    # No single-column indexes: the composite ones below lead with these columns.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="owned_tasks",
        db_index=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tasks",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # The task's labels: the table serves `?label=` and a label's deletion; `label_ids`
    # (sorted) is what a read shows, so a list reads them with the rows (no join).
    labels = models.ManyToManyField(Label, related_name="tasks", blank=True)
    label_ids = models.JSONField(default=list, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="subtasks"
    )
    # Orders a project's tasks (tasks.positions); unique within the project, compared
    # byte by byte (COLLATE "C" on PostgreSQL: migration 0008).
    position = models.CharField(max_length=255)
    # Kept by the services with every change of a subtask or a blocker, so that a list
    # shows `subtasks` and `blocked` from the row itself (no query per row).
    subtasks_total = models.PositiveIntegerField(default=0)
    subtasks_completed = models.PositiveIntegerField(default=0)
    open_blockers = models.PositiveIntegerField(default=0)
    # How many tasks this one blocks, kept by the relations' services, so that a
    # change completing or reopening a task that blocks none need not read its
    # relations. Never too low; a relation deleted with the task it blocked leaves it
    # one too high (docs/decisions/task-writes.md).
    blocking = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        permissions = [
            ("view_any_task", "Can view every task"),
            ("change_any_task", "Can change every task"),
            ("delete_any_task", "Can delete every task"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="tasks_task_version_positive"),
            models.CheckConstraint(
                condition=~Q(title=""),
                name="tasks_task_title_not_empty",
            ),
            # completed_at is set exactly while the task is completed.
            models.CheckConstraint(
                condition=(
                    Q(status="completed", completed_at__isnull=False)
                    | (~Q(status="completed") & Q(completed_at__isnull=True))
                ),
                name="tasks_task_completed_at_matches_status",
            ),
            # Two moves never leave two tasks at one place; also `?ordering=position`'s index.
            models.UniqueConstraint(fields=["project", "position"], name="tasks_project_position"),
        ]
        indexes = [
            # A member's list, newest first and ties by id (the lists' order): each of
            # their projects read straight from it (taskmanager.prepared.PreparedTopRows).
            models.Index(fields=["project", "-created_at", "-id"], name="tasks_project_newest"),
            # The same filtered by status (the most used filter).
            models.Index(fields=["project", "status"], name="tasks_project_status"),
            # `?assignee=`, a removed member's assignments, and a deleted user's tasks.
            models.Index(fields=["assignee", "-created_at"], name="tasks_assignee_created"),
            models.Index(fields=["owner", "-created_at"], name="tasks_owner_created"),
            # Managers' list of everything, newest first, and overdue / due-date filters.
            models.Index(fields=["-created_at"], name="tasks_created"),
            # Also `?ordering=due_date` (ASC NULLS LAST, the btree's own order on
            # PostgreSQL); `-due_date` (DESC NULLS LAST) reads `tasks_due_date_desc`, a
            # PostgreSQL-only index of migration 0002 (SQLite cannot declare it).
            models.Index(fields=["due_date"], name="tasks_due_date"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row made outside the services (fixtures, a shell) goes last in its project;
        # the services compute the position under the project's lock themselves.
        if not self.position and self.project_id is not None:
            from tasks import positions

            last = (
                Task.objects.filter(project_id=self.project_id)
                .order_by("-position")
                .values_list("position", flat=True)
                .first()
            )
            self.position = positions.after(last)
        super().save(*args, **kwargs)


class Relation(models.Model):
    """`task` blocks, relates to or duplicates `other`; listed from both ends."""

    class Kind(models.TextChoices):
        BLOCKS = "blocks", "Blocks"
        RELATES_TO = "relates_to", "Relates to"
        DUPLICATES = "duplicates", "Duplicates"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="relations_out")
    other = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="relations_in")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "other", "kind"], name="tasks_relation_unique"),
            models.CheckConstraint(
                condition=~Q(task=models.F("other")), name="tasks_relation_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} {self.kind} {self.other_id}"


class IdempotencyKey(models.Model):
    """A create made with an `Idempotency-Key`: a retry gets the same task back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, related_name="+")
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Decides between two racing retries: the second insert waits, then fails.
            models.UniqueConstraint(fields=["user", "key"], name="tasks_idempotency_user_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="tasks_idempotency_created")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
