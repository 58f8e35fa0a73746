"""The lean output serializers write exactly what DRF's generated fields would."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from activity.models import Event
from tasks.models import Task
from tasks.serializers import TaskEventOutputSerializer, TaskOutputSerializer
from tasks.services import task_create, task_update
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def generated(serializer: serializers.Serializer[Any], instance: Any) -> dict[str, Any]:
    """DRF's own output, field by field, for the serializer's declared fields."""
    return dict(serializers.ModelSerializer.to_representation(serializer, instance))


def same_json(left: Any, right: Any) -> bool:
    renderer = JSONRenderer()
    return bool(renderer.render(left) == renderer.render(right))


@pytest.fixture
def tasks() -> list[Task]:
    owner, assignee = UserFactory(), UserFactory()
    due = datetime(2031, 5, 17, 8, 30, 15, 123456, tzinfo=UTC)
    return [
        TaskFactory(owner=owner),
        TaskFactory(owner=owner, assignee=assignee, due_date=due, description=""),
        TaskFactory(
            owner=owner,
            status=Task.Status.COMPLETED,
            priority=Task.Priority.HIGH,
            due_date=datetime(2030, 1, 1, tzinfo=UTC) - timedelta(microseconds=1),
        ),
        task_create(actor=owner, title="Through the service", priority=Task.Priority.LOW),
    ]


def test_a_task_is_written_as_the_generated_fields_would(tasks):
    for task in [*tasks, *(Task.objects.get(pk=t.pk) for t in tasks)]:
        serializer = TaskOutputSerializer(task)
        lean = serializer.data
        assert lean == generated(serializer, task)
        assert same_json(lean, generated(serializer, task))
        assert list(lean) == list(serializer.fields)


def test_a_list_of_tasks_is_written_as_the_generated_fields_would(tasks):
    listed = TaskOutputSerializer(Task.objects.order_by("id"), many=True).data
    child = TaskOutputSerializer()
    assert listed == [generated(child, task) for task in Task.objects.order_by("id")]


def test_a_task_event_is_written_as_the_generated_fields_would(tasks):
    owner = tasks[0].owner
    task_update(
        actor=owner, task_id=tasks[0].pk, data={"title": "Renamed", "assignee": tasks[1].owner}
    )
    for event in Event.objects.order_by("id"):
        serializer = TaskEventOutputSerializer(event)
        assert serializer.data == generated(serializer, event)
        assert same_json(serializer.data, generated(serializer, event))
        assert list(serializer.data) == list(serializer.fields)
