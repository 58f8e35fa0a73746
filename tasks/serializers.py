from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from activity.models import Event
from projects.models import Project
from taskmanager.datetimes import NEEDS_OFFSET, AwareDateTimeField, datetime_out
from taskmanager.filters import MAX_ID
from taskmanager.serializers import IdRelatedField, StrictFieldsMixin
from tasks.models import Task
from tasks.state import STATE_FIELDS, task_state


# The fields below describe the task (the schema, the browsable API);
# `to_representation` writes it without building them: a task is serialised on every
# read and three times per write, and ModelSerializer builds its fields for each
# serializer (tests/tasks/test_serializers.py holds the two to the same output).
class TaskOutputSerializer(serializers.ModelSerializer[Task]):
    """A task. `version` starts at 1 and grows by one with every change; the `ETag`
    header names it."""

    def to_representation(self, instance: Task) -> dict[str, Any]:
        return task_state(instance)

    class Meta:
        model = Task
        fields = list(STATE_FIELDS)
        read_only_fields = fields


NO_SUCH_PROJECT = "No project with id {pk_value} that you can see."


class TaskInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A task's fields you set. On create (POST) and replace (PUT) a field left out
    takes its default (`project`: your personal project on create, unchanged on a
    replace); on PATCH only the fields sent change, and `null` clears `due_date` or
    `assignee`. A `project` moves the task (write access in both projects)."""

    # Sent back as a GET wrote them (a PUT of what it returned), they change nothing.
    echoed_fields = frozenset(
        {"id", "owner", "created_at", "updated_at", "completed_at", "version"}
    )

    def represent_instance(self) -> dict[str, Any]:
        return TaskOutputSerializer(self.instance).data

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
    due_date = AwareDateTimeField(
        allow_null=True, required=False, default=None, help_text=NEEDS_OFFSET
    )
    assignee = IdRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        default=None,
        help_text="A member of the task's project with role `member` or `admin`.",
        error_messages={"does_not_exist": "No active user with id {pk_value}."},
    )
    project = IdRelatedField(
        queryset=Project.objects.all(),
        required=False,
        help_text="The project the task belongs to (default: your personal project).",
        error_messages={"does_not_exist": NO_SUCH_PROJECT},
    )


@extend_schema_field(
    {
        "type": "object",
        "description": "Each changed field's `[old, new]` values (either may be null).",
        "additionalProperties": {"type": "array", "items": {}, "minItems": 2, "maxItems": 2},
    }
)
class ChangesField(serializers.JSONField):
    pass


# Written without building the fields, as TaskOutputSerializer.
class TaskEventOutputSerializer(serializers.ModelSerializer[Event]):
    """One change of a task: who (`actor`, null once that account is deleted) made
    it, and `changes`, which maps each changed field to its old and new value."""

    at = serializers.DateTimeField(source="created_at", read_only=True)
    task = serializers.IntegerField(source="subject_id", read_only=True)
    kind = serializers.ChoiceField(
        choices=[("created", "Created"), ("updated", "Updated"), ("deleted", "Deleted")],
        source="action",
        read_only=True,
    )
    actor = serializers.IntegerField(source="actor_id", read_only=True, allow_null=True)
    changes = ChangesField(read_only=True)

    def to_representation(self, instance: Event) -> dict[str, Any]:
        return {
            "id": instance.pk,
            "task": instance.subject_id,
            "kind": instance.action,
            "actor": instance.actor_id,
            "changes": instance.changes,
            "at": datetime_out(instance.created_at),
        }

    class Meta:
        model = Event
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


class StatisticsQuerySerializer(serializers.Serializer):
    """The statistics' parameters, as the list's (tasks.filters.ProjectScopeFilter
    reads them): for the schema."""

    project = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_ID),
        required=False,
        help_text="Tasks of any of these projects: `?project=1&project=2` or `?project=1,2`.",
    )
    include_archived = serializers.ChoiceField(
        choices=[("true", "true"), ("false", "false")],
        required=False,
        help_text="`true` counts the tasks of archived projects too (left out by default).",
    )
