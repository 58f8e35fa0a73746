from django.db import models
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from comments.serializers import CommentOutputSerializer
from projects.serializers import LabelOutputSerializer, ProjectOutputSerializer
from tasks.serializers import TaskOutputSerializer


class ChangeType(models.TextChoices):
    PROJECT = "project", "Project"
    LABEL = "label", "Label"
    TASK = "task", "Task"
    COMMENT = "comment", "Comment"


class ChangeOp(models.TextChoices):
    UPSERT = "upsert", "Upsert"
    DELETE = "delete", "Delete"


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="SyncObject",
        serializers=[
            ProjectOutputSerializer,
            LabelOutputSerializer,
            TaskOutputSerializer,
            CommentOutputSerializer,
        ],
        resource_type_field_name=None,
    )
)
class SyncObjectField(serializers.JSONField):
    """The object as its own GET shows it (`type` says which), or null."""


class SyncChangeOutputSerializer(serializers.Serializer):
    """One object's change: `upsert` with the object as `GET` of it shows it now (a
    project, a label, a task or a comment, as `type` says), or `delete` with `data`
    null: the object is gone, or out of your sight. A project's `delete` takes away
    its labels, its tasks and their comments; a task's its comments."""

    type = serializers.ChoiceField(choices=ChangeType.choices)
    id = serializers.IntegerField(min_value=1)
    op = serializers.ChoiceField(choices=ChangeOp.choices)
    # The field the change calls `data` (a Serializer's own `data` is its output).
    data = SyncObjectField(allow_null=True)  # type: ignore[assignment]


class SyncPageOutputSerializer(serializers.Serializer):
    """A page of changes, at most 500 (more only when one change of the server alone
    changed more objects), each object once. Send `cursor` back for the next page;
    `has_more` says whether one is waiting now."""

    changes = SyncChangeOutputSerializer(many=True)
    cursor = serializers.CharField()
    has_more = serializers.BooleanField()
