from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from activity.models import Event
from projects.models import Project
from taskmanager.datetimes import NEEDS_OFFSET, AwareDateTimeField, datetime_out
from taskmanager.filters import MAX_ID
from taskmanager.schema import one_of
from taskmanager.serializers import IdRelatedField, StrictFieldsMixin
from tasks.models import Relation, Task
from tasks.services import BULK_MAX
from tasks.state import STATE_FIELDS, task_state

# Labels a task carries at most.
MAX_LABELS = 50


class SubtasksOutputSerializer(serializers.Serializer):
    total = serializers.IntegerField(
        source="subtasks_total", min_value=0, help_text="Its subtasks (direct ones)."
    )
    completed = serializers.IntegerField(
        source="subtasks_completed", min_value=0, help_text="Of those, the completed ones."
    )


# The fields below describe the task (the schema, the browsable API);
# `to_representation` writes it without building them: a task is serialised on every
# read and three times per write, and ModelSerializer builds its fields for each
# serializer (tests/tasks/test_serializers.py holds the two to the same output).
class TaskOutputSerializer(serializers.ModelSerializer[Task]):
    """A task. `version` starts at 1 and grows by one with every change; the `ETag`
    header names it."""

    labels = serializers.ListField(
        child=serializers.IntegerField(),
        source="label_ids",
        read_only=True,
        help_text="Its labels' ids, ascending.",
    )
    # DRF's metaclass takes declared fields off the class: no clash with Field.parent.
    parent = serializers.IntegerField(  # type: ignore[assignment]
        read_only=True, allow_null=True, help_text="The task it is a subtask of."
    )
    position = serializers.CharField(
        read_only=True,
        help_text="Sorts the tasks of a project (`?ordering=position`); opaque, compare "
        "as bytes. `POST /tasks/{id}/move/` changes it.",
    )
    subtasks = SubtasksOutputSerializer(source="*", read_only=True)
    blocked = serializers.BooleanField(
        source="open_blockers",
        read_only=True,
        help_text="True while a task that blocks it is not completed.",
    )

    def to_representation(self, instance: Task) -> dict[str, Any]:
        return task_state(instance)

    class Meta:
        model = Task
        fields = list(STATE_FIELDS)
        read_only_fields = fields


NO_SUCH_PROJECT = "No project with id {pk_value} that you can see."


# A form of the browsable API shows a task's values through the input fields: these
# read the columns (the related managers and objects are not ids).
class LabelIdsField(serializers.ListField):
    def get_attribute(self, instance: Task) -> list[int]:
        return list(instance.label_ids)


class ParentIdField(serializers.IntegerField):
    def get_attribute(self, instance: Task) -> int | None:
        return instance.parent_id


class TaskInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A task's fields you set. On create (POST) and replace (PUT) a field left out
    takes its default (`project`: your personal project on create, unchanged on a
    replace); on PATCH only the fields sent change, and `null` clears `due_date` or
    `assignee`. A `project` moves the task (write access in both projects)."""

    # Sent back as a GET wrote them (a PUT of what it returned), they change nothing.
    echoed_fields = frozenset(
        {
            "id",
            "owner",
            "created_at",
            "updated_at",
            "completed_at",
            "version",
            "position",
            "subtasks",
            "blocked",
        }
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
    labels = LabelIdsField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=MAX_LABELS,
        help_text="Its labels (ids of the project's labels): the set replaces the "
        "task's. A task leaving for another project leaves its labels unless given some.",
    )
    parent = ParentIdField(  # type: ignore[assignment]
        min_value=1,
        max_value=MAX_ID,
        allow_null=True,
        required=False,
        default=None,
        help_text="Makes it a subtask of this task of the same project (at most 5 levels, "
        "no cycles); `null` makes it a top-level task.",
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


class MoveInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Where the task goes in its project's order: just before or just after another
    task of the project (exactly one of the two)."""

    # validate()'s rule, for the schema.
    body_rules = (one_of("before", "after"),)

    before = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Just before this task."
    )
    after = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Just after this task."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError(
                {"before": ["Give exactly one of `before` and `after`."]}
            )
        return attrs


class RelationInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """`kind` from this task to `task`: this task blocks, relates to or duplicates it."""

    kind = serializers.ChoiceField(choices=Relation.Kind.choices)
    task = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The other task (one you can see)."
    )


class RelationOutputSerializer(serializers.Serializer):
    """A relation as seen from `task`: `outgoing` when `task` blocks (relates to,
    duplicates) `other_task`, `incoming` when `other_task` does so to `task`."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Relation.Kind.choices)
    task = serializers.IntegerField()
    other_task = serializers.IntegerField()
    direction = serializers.ChoiceField(
        choices=[("outgoing", "outgoing"), ("incoming", "incoming")]
    )
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


def relation_seen_from(relation: Relation, task_id: int) -> dict[str, Any]:
    outgoing = relation.task_id == task_id
    return {
        "id": relation.pk,
        "kind": str(relation.kind),
        "task": task_id,
        "other_task": relation.other_id if outgoing else relation.task_id,
        "direction": "outgoing" if outgoing else "incoming",
        "created_by": relation.created_by_id,
        "created_at": datetime_out(relation.created_at),
    }


def _bulk_ids() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=BULK_MAX,
        help_text=f"The tasks, 1 to {BULK_MAX} ids.",
    )


def _label_ids(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=MAX_LABELS,
        help_text=help_text,
    )


class BulkSetInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """The fields every task takes (only those sent change; `null` clears)."""

    status = serializers.ChoiceField(choices=Task.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False)
    due_date = AwareDateTimeField(allow_null=True, required=False, help_text=NEEDS_OFFSET)
    assignee = IdRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": "No active user with id {pk_value}."},
    )
    project = IdRelatedField(
        queryset=Project.objects.all(),
        required=False,
        error_messages={"does_not_exist": NO_SUCH_PROJECT},
    )


class BulkUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Change up to 100 tasks at once: all of them or, when one fails, none (each
    failing id named under the error's `fields`)."""

    ids = _bulk_ids()
    set = BulkSetInputSerializer(required=False)
    add_labels = _label_ids("Labels each task gains (of its project, after a move the new one's).")
    remove_labels = _label_ids("Labels each task loses.")


class BulkDeleteInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Delete up to 100 tasks at once: all of them or none."""

    ids = _bulk_ids()
