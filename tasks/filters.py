import re
from typing import Any

import django_filters
from django import forms
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import OrderBy
from django_filters.widgets import QueryArrayWidget
from drf_spectacular.utils import extend_schema_field

from taskmanager.datetimes import NEEDS_OFFSET
from taskmanager.filters import (
    MAX_ID,
    IdFilter,
    LeanFilterSet,
    OrderedValuesWidget,
    UtcIsoDateTimeFilter,
)
from tasks.models import Task
from tasks.selectors import overdue_q

TaskLabel = Task.labels.through

# Priority in its real order, not the alphabet's (high < low < medium).
PRIORITY_RANK = Case(
    When(priority=Task.Priority.LOW, then=Value(0)),
    When(priority=Task.Priority.MEDIUM, then=Value(1)),
    When(priority=Task.Priority.HIGH, then=Value(2)),
    output_field=IntegerField(),
)


# The ordering fields that may be NULL.
NULLABLE_ORDERINGS = frozenset({"due_date"})


class ManyValuesWidget(QueryArrayWidget):
    """`?status=a&status=b`, `?status=a,b` and a mix of both."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        values = super().value_from_datadict(data, files, name)
        return sorted({part.strip() for value in values for part in value.split(",")} - {""})


class ManyIdsField(forms.Field):
    """Ids given as `?project=1&project=2`, `?project=1,2` or both: each a whole
    number within the column's range, or a 400 naming the parameter."""

    def to_python(self, value: Any) -> list[int]:
        ids = []
        for part in value or []:
            if not part.isascii() or not part.isdigit() or len(part) > 19 or int(part) > MAX_ID:
                # The value as a parameter: django-filter %-formats each message, and
                # a "%" sent in the value broke that (a 500).
                raise forms.ValidationError(
                    "%(part)r is not an id.", code="invalid", params={"part": part}
                )
            ids.append(int(part))
        return ids


# What ManyIdsField takes: whole numbers from 0 (which matches nothing) to MAX_ID.
MANY_IDS_SCHEMA = {
    "type": "array",
    "items": {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID},
}


@extend_schema_field(MANY_IDS_SCHEMA)
class ManyIdsFilter(django_filters.Filter):
    field_class = ManyIdsField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", ManyValuesWidget)
        super().__init__(*args, **kwargs)
        help_text = self.extra.get("help_text")
        if help_text:
            # A raw schema's parameter is described by the schema's own description
            # only (drf-spectacular leaves the filter's help_text out): this filter's.
            extend_schema_field({**MANY_IDS_SCHEMA, "description": str(help_text)})(self)

    def filter(self, qs: QuerySet[Task], value: list[int] | None) -> QuerySet[Task]:
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})


# What ParentField takes: `none`, or an id of up to 18 digits (every id a task has
# had; the schema's pattern cannot say "at most MAX_ID").
PARENT_PATTERN = r"^(none|[0-9]{1,18})$"


class ParentField(forms.CharField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["strip"] = False  # " 5" is refused, as the pattern says
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> str:
        text = super().to_python(value) or ""
        if text and not re.fullmatch(PARENT_PATTERN, text):
            raise forms.ValidationError("Give a task id or `none`.", code="invalid")
        return text


@extend_schema_field(
    {
        "type": "string",
        "pattern": PARENT_PATTERN,
        "example": "none",
        # A raw schema's parameter is described by the schema only (as ManyIdsFilter).
        "description": "`?parent=<id>`: that task's subtasks; `?parent=none`: top-level tasks.",
    }
)
class ParentFilter(django_filters.CharFilter):
    field_class = ParentField


class TaskOrderingFilter(django_filters.OrderingFilter):
    def filter(self, qs: QuerySet[Task], value: Any) -> QuerySet[Task]:
        # Empty terms (`?ordering=title,`) are skipped, as django-filter's own filter does,
        # rather than ordering by a field named "" (a FieldError, a 500).
        ordering = [self.get_ordering_value(param) for param in value or [] if param]
        if not ordering:
            return qs
        if any(term.lstrip("-") == "priority_rank" for term in ordering):
            qs = qs.annotate(priority_rank=PRIORITY_RANK)
        # The id breaks ties, so pages never repeat or skip a task.
        return qs.order_by(*(_nulls_last(term) for term in ordering), "-id")


def _nulls_last(term: str) -> str | OrderBy:
    """Tasks without a due date come last both ways, on every database: PostgreSQL
    puts NULL last ascending and first descending, SQLite the reverse. Ascending is
    the `tasks_due_date` index's own order on PostgreSQL (tasks/models.py)."""
    field = term.lstrip("-")
    if field not in NULLABLE_ORDERINGS:
        return term
    return F(field).desc(nulls_last=True) if term.startswith("-") else F(field).asc(nulls_last=True)


class ProjectScopeFilter(LeanFilterSet):
    """Which projects' tasks: some (`project`), and archived ones or not. The
    statistics take these; the list takes them with the rest (TaskFilter)."""

    project = ManyIdsFilter(
        field_name="project_id",
        help_text="Tasks of any of these projects: `?project=1&project=2` or `?project=1,2`.",
    )
    # A choice, not BooleanFilter: that one reads "maybe" as "no filter".
    include_archived = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_include_archived",
        help_text="`true` counts the tasks of archived projects too (left out by default).",
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        queryset = super().filter_queryset(queryset)
        if self.form.cleaned_data.get("include_archived") != "true":
            queryset = self.unfiltered(queryset)
        return queryset

    def unfiltered(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        # A condition on the project's join (a member's list has it already), cheaper
        # to build and to plan than `NOT IN (archived projects)` (bench/RESULTS.md).
        return queryset.filter(project__is_archived=False)

    def filter_include_archived(
        self, queryset: QuerySet[Task], name: str, value: str
    ) -> QuerySet[Task]:
        return queryset  # applied in filter_queryset, also when the parameter is absent


class TaskFilter(ProjectScopeFilter):
    # distinct=False: a filter on the task's own column cannot repeat rows, and the
    # DISTINCT django-filter adds by default would force a sort of the whole result.
    status = django_filters.MultipleChoiceFilter(
        choices=Task.Status.choices, widget=ManyValuesWidget, distinct=False
    )
    priority = django_filters.MultipleChoiceFilter(
        choices=Task.Priority.choices, widget=ManyValuesWidget, distinct=False
    )
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    assignee = IdFilter(field_name="assignee_id")
    due_before = UtcIsoDateTimeFilter(
        field_name="due_date",
        lookup_expr="lte",
        help_text=f"Tasks due at or before this instant. {NEEDS_OFFSET}",
    )
    due_after = UtcIsoDateTimeFilter(
        field_name="due_date",
        lookup_expr="gte",
        help_text=f"Tasks due at or after this instant. {NEEDS_OFFSET}",
    )
    # A choice, not BooleanFilter: that one reads "maybe" as "no filter".
    overdue = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_overdue"
    )
    label = ManyIdsFilter(
        method="filter_label",
        help_text="Tasks with any of these labels: `?label=1&label=2` or `?label=1,2`.",
    )
    parent = ParentFilter(
        method="filter_parent",
        help_text="`?parent=<id>`: that task's subtasks; `?parent=none`: top-level tasks.",
    )
    blocked = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_blocked",
        help_text="`true`: tasks that a task not completed blocks; `false`: the others.",
    )
    ordering = TaskOrderingFilter(
        fields=(
            ("position", "position"),
            ("created_at", "created_at"),
            ("updated_at", "updated_at"),
            ("due_date", "due_date"),
            ("title", "title"),
            ("priority_rank", "priority"),
        ),
        widget=OrderedValuesWidget,
        help_text="Sort by these fields in turn, `-` for descending: "
        "`?ordering=-priority&ordering=title` or `?ordering=-priority,title`.",
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        value = value.strip()
        if not value:
            return queryset
        if connection.vendor == "postgresql":
            # Full-text: words and their stems ("running" finds "run"), any order.
            vector = SearchVector("title", "description", config="english")
            return queryset.annotate(search_vector=vector).filter(
                search_vector=SearchQuery(value, config="english", search_type="websearch")
            )
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))

    def filter_label(
        self, queryset: QuerySet[Task], name: str, value: list[int] | None
    ) -> QuerySet[Task]:
        if not value:
            return queryset
        # A subquery, not a join: a task with two of the labels is listed once.
        return queryset.filter(
            pk__in=TaskLabel.objects.filter(label_id__in=value).values("task_id")
        )

    def filter_parent(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        if value == "none":
            return queryset.filter(parent__isnull=True)
        return queryset.filter(parent_id=int(value))

    def filter_blocked(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        if value == "true":
            return queryset.filter(open_blockers__gt=0)
        return queryset.filter(open_blockers=0)

    def filter_overdue(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset.filter(overdue_q()) if value == "true" else queryset.exclude(overdue_q())
