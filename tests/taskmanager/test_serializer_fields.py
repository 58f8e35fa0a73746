"""Input serializers copy their declared fields per instance, as DRF does, but
shallow: they share what no field changes (taskmanager.serializers.StrictFieldsMixin)."""

from typing import Any

from tasks.serializers import TaskInputSerializer


def test_each_instance_has_fields_of_its_own_bound_to_it() -> None:
    first: Any = TaskInputSerializer(data={})
    second: Any = TaskInputSerializer(data={}, partial=True)

    for name, field in first.fields.items():
        assert field is not second.fields[name]
        assert field.parent is first
        assert second.fields[name].parent is second
    labels = first.fields["labels"]
    assert labels.child is not second.fields["labels"].child
    assert labels.child.parent is labels
    assert labels.child.root is first


def test_querysets_choices_messages_and_validators_are_shared_not_copied() -> None:
    declared: Any = TaskInputSerializer._declared_fields
    fields: Any = TaskInputSerializer(data={}).fields

    assert fields["project"].queryset is declared["project"].queryset
    assert fields["assignee"].queryset is declared["assignee"].queryset
    assert fields["priority"]._kwargs["choices"] is declared["priority"]._kwargs["choices"]
    assert (
        fields["assignee"]._kwargs["error_messages"]
        is declared["assignee"]._kwargs["error_messages"]
    )
    assert fields["title"].validators is declared["title"].validators


def test_a_shared_queryset_is_never_evaluated_in_place(db: None) -> None:
    declared: Any = TaskInputSerializer._declared_fields["assignee"]
    queryset = declared.queryset
    payload = TaskInputSerializer(data={"title": "Fix the gate", "assignee": 10**9})

    assert not payload.is_valid()
    assert "assignee" in payload.errors
    assert queryset._result_cache is None


def test_a_partial_instance_skips_its_missing_fields_and_a_full_one_asks_for_them() -> None:
    # Per-instance state (partial) reaches the copied fields through their own parent.
    assert TaskInputSerializer(data={"priority": "high"}, partial=True).is_valid()
    full = TaskInputSerializer(data={"priority": "high"})
    assert not full.is_valid()
    assert "title" in full.errors


def test_what_each_instance_binds_stays_its_own() -> None:
    declared: Any = TaskInputSerializer._declared_fields
    first: Any = TaskInputSerializer(data={})
    second: Any = TaskInputSerializer(data={}, partial=True)

    first.fields["title"].label = "Changed"

    assert second.fields["title"].label == "Title"
    assert declared["title"].parent is None and declared["title"].field_name is None
    assert declared["labels"].child.parent is declared["labels"]


def test_a_nested_serializer_is_copied_deep() -> None:
    from rest_framework import serializers

    from taskmanager.serializers import StrictFieldsMixin

    class Inner(serializers.Serializer):
        name = serializers.CharField()

    class Outer(StrictFieldsMixin, serializers.Serializer):
        inner = Inner()
        many = Inner(many=True)

    first, second = Outer(data={}), Outer(data={})

    assert first.fields["inner"] is not second.fields["inner"]
    assert first.fields["inner"].fields["name"] is not second.fields["inner"].fields["name"]
    assert first.fields["many"].child is not second.fields["many"].child
    assert first.fields["many"].child.root is first
