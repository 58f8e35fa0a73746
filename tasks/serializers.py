from datetime import datetime
from typing import Any

from rest_framework import serializers

from accounts.models import User
from taskmanager.serializers import IdRelatedField, StrictFieldsMixin
from tasks.models import Task, TaskEvent

# An unbound field, used only for DRF's datetime output (ISO 8601 in the current
# time zone, "Z" for UTC): the lean `to_representation`s below write exactly what the
# generated fields would.
_DATETIME = serializers.DateTimeField()


def datetime_out(value: datetime | None) -> str | None:
    return _DATETIME.to_representation(value) if value is not None else None


class TaskOutputSerializer(serializers.ModelSerializer[Task]):
    """The task as the API shows it. The fields below describe it (the schema, the
    browsable API); `to_representation` writes it without building them: a task is
    serialised on every read and three times per write, and ModelSerializer builds
    its fields for each serializer (tests/tasks/test_serializers.py holds the two
    to the same output)."""

    def to_representation(self, instance: Task) -> dict[str, Any]:
        return {
            "id": instance.pk,
            "title": instance.title,
            "description": instance.description,
            "priority": str(instance.priority),
            "status": str(instance.status),
            "due_date": datetime_out(instance.due_date),
            "owner": instance.owner_id,
            "assignee": instance.assignee_id,
            "created_at": datetime_out(instance.created_at),
            "updated_at": datetime_out(instance.updated_at),
            "completed_at": datetime_out(instance.completed_at),
            "version": instance.version,
        }

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "priority",
            "status",
            "due_date",
            "owner",
            "assignee",
            "created_at",
            "updated_at",
            "completed_at",
            "version",
        ]
        read_only_fields = fields


class TaskInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Create and update. Missing fields take their defaults on POST and PUT (PUT
    replaces the task); PATCH (partial) changes only what is sent."""

    ignored_fields = frozenset(
        {"id", "owner", "created_at", "updated_at", "completed_at", "version"}
    )

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=10000, allow_blank=True, required=False, default="", trim_whitespace=False
    )
    priority = serializers.ChoiceField(
        choices=Task.Priority.choices, required=False, default=Task.Priority.MEDIUM
    )
    status = serializers.ChoiceField(
        choices=Task.Status.choices, required=False, default=Task.Status.PENDING
    )
    due_date = serializers.DateTimeField(allow_null=True, required=False, default=None)
    assignee = IdRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        default=None,
        error_messages={"does_not_exist": "No active user with id {pk_value}."},
    )


class TaskEventOutputSerializer(serializers.ModelSerializer[TaskEvent]):
    """A task event; written without building the fields, as TaskOutputSerializer."""

    at = serializers.DateTimeField(source="created_at", read_only=True)
    task = serializers.IntegerField(source="task_id", read_only=True)
    actor = serializers.IntegerField(source="actor_id", read_only=True, allow_null=True)

    def to_representation(self, instance: TaskEvent) -> dict[str, Any]:
        return {
            "id": instance.pk,
            "task": instance.task_id,
            "kind": str(instance.kind),
            "actor": instance.actor_id,
            "changes": instance.changes,
            "at": datetime_out(instance.created_at),
        }

    class Meta:
        model = TaskEvent
        fields = ["id", "task", "kind", "actor", "changes", "at"]
        read_only_fields = fields


class EventFeedQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, required=False, default=0)


class StatisticsOutputSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_priority = serializers.DictField(child=serializers.IntegerField())
    overdue = serializers.IntegerField()
    completion_rate = serializers.FloatField()
