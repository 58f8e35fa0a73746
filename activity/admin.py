"""The outbox in the Django admin: read only (the services write it)."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from activity import kinds
from activity.models import Event
from taskmanager.admin_base import InputFilter, ReadOnlyAdmin


class SubjectIdFilter(InputFilter):
    """An object's history, deleted objects included (served by the subject index)."""

    title = "subject id"
    parameter_name = "subject_id"
    placeholder = "object id"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.cleaned_value()
        if not value:
            return queryset
        # ASCII digits only ("²" is a digit to isdigit(), not to int()), within a bigint.
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            return queryset.none()
        return queryset.filter(subject_id=int(value))


class TypeFilter(admin.SimpleListFilter):
    """The registered types (activity.kinds), without a DISTINCT over the outbox."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        types = sorted(t for kind in kinds.registered() for t in kind.types)
        return [(t, t) for t in types]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(type=value) if value else queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """No date hierarchy: it would take the minimum and maximum `created_at` of the
    whole outbox, which has no index on it."""

    list_display = ["id", "type", "subject_id", "actor", "created_at"]
    list_select_related = ["actor"]
    list_filter = [TypeFilter, SubjectIdFilter]
    raw_id_fields = ["actor"]
    readonly_fields = (
        "id",
        "type",
        "subject_id",
        "actor",
        "changes",
        "data",
        "owner",
        "assignee",
        "previous_assignee",
        "created_at",
    )
    fields = readonly_fields
