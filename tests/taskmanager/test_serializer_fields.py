"""Input serializers copy their declared fields per instance as DRF does, but share
the arguments no field changes (taskmanager.serializers.StrictFieldsMixin)."""

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


def test_querysets_choices_and_messages_are_shared_not_copied() -> None:
    declared: Any = TaskInputSerializer._declared_fields
    fields: Any = TaskInputSerializer(data={}).fields

    assert fields["project"].queryset is declared["project"].queryset
    assert fields["assignee"].queryset is declared["assignee"].queryset
    assert fields["priority"]._kwargs["choices"] is declared["priority"]._kwargs["choices"]
    assert (
        fields["assignee"]._kwargs["error_messages"]
        is declared["assignee"]._kwargs["error_messages"]
    )


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
