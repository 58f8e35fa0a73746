"""taskmanager.filters.LeanFilterSet: built without deep copies, yet each instance
keeps its own filters, data and form (nothing leaks from one request to the next)."""

import pytest
from django.http import QueryDict

from tasks.filters import TaskFilter
from tasks.models import Task

pytestmark = pytest.mark.django_db


def test_each_filterset_has_its_own_filters_bound_to_itself():
    first, second = TaskFilter(QueryDict("search=a")), TaskFilter(QueryDict("search=b"))

    for filterset in (first, second):
        assert all(f.parent is filterset for f in filterset.filters.values())
        assert all(f.model is Task for f in filterset.filters.values())
    assert first.filters["search"] is not second.filters["search"]
    # A filter with a method finds it on its own filterset.
    assert first.filters["search"].filter.f is first.filters["search"]
    assert getattr(TaskFilter.base_filters["search"], "parent", None) is None


def test_forms_share_fields_but_not_data_or_errors():
    good, bad = TaskFilter(QueryDict("status=pending")), TaskFilter(QueryDict("status=nope"))

    assert good.is_valid() and not bad.is_valid()
    assert good.form.cleaned_data["status"] == ["pending"]
    assert "status" in bad.form.errors and not good.form.errors
    assert type(good.form) is type(bad.form)
    assert good.form.fields["status"] is bad.form.fields["status"]
    assert good.form.fields is not bad.form.fields


def test_filtering_uses_each_instances_values(member, task):
    tasks = Task.objects.all()

    assert list(TaskFilter(QueryDict("search=plants"), tasks).qs) == [task]
    assert list(TaskFilter(QueryDict("search=nothing-like-it"), tasks).qs) == []
    assert list(TaskFilter(QueryDict("search=plants"), tasks).qs) == [task]
