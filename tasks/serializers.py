from rest_framework import serializers

from accounts.models import User
from taskmanager.serializers import StrictFieldsMixin
from tasks.models import Task, TaskEvent


class TaskOutputSerializer(serializers.ModelSerializer[Task]):
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
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        default=None,
        error_messages={"does_not_exist": "No active user with id {pk_value}."},
    )


class TaskEventOutputSerializer(serializers.ModelSerializer[TaskEvent]):
    at = serializers.DateTimeField(source="created_at", read_only=True)
    task = serializers.IntegerField(source="task_id", read_only=True)
    actor = serializers.IntegerField(source="actor_id", read_only=True, allow_null=True)

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
