"""Filters shared by the apps' filtersets: values the database can compare, or 400."""

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.widgets import CSVWidget
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from taskmanager.datetimes import NEEDS_OFFSET, lacks_offset

# Ids are 64-bit signed integers in every database we run on.
MAX_ID = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT64)  # NumberFilter's would say "number"
class IdFilter(django_filters.NumberFilter):
    """An id to match: a whole number (NumberFilter's decimal field would truncate
    2.7 to 2). A number past the column's range is a 400: SQLite's driver cannot
    even send it (OverflowError, a 500), where it could only match nothing."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -MAX_ID - 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class OrderedValuesWidget(CSVWidget):
    """A list in the order given: `?ordering=a&ordering=b` (what generated clients
    send), `?ordering=a,b` or a mix of both. CSVWidget read the last parameter only."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str] | None:
        if name not in data:
            return None
        values = data.getlist(name) if hasattr(data, "getlist") else data[name]
        if isinstance(values, str):
            values = [values]
        return [part for value in values for part in value.split(",")]


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        # Read in the site's time zone otherwise, as Django's forms do.
        if lacks_offset(value):
            raise forms.ValidationError(NEEDS_OFFSET, code="naive")
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                "The date/time is out of range in UTC.", code="invalid"
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date/time with its UTC offset (a 400 without), compared in UTC.
    PostgreSQL refuses UTC offsets past ±15:59 that ISO 8601 and Python allow (a
    500); SQLite's adapter converts to UTC and overflows past year 9999 or before
    year 1 (a 500). Both are now the value in UTC, or a 400 naming the parameter."""

    field_class = UtcIsoDateTimeField


class FiltersOnListsOnly:
    """A viewset mixin: filters, search and ordering narrow lists, never one object.
    DRF also runs them in `get_object`, where they cost every detail, PATCH and DELETE
    a filter form (bench/RESULTS.md, "Figures behind the code") and a detail URL with
    a list's query string could 404 an object the caller may see."""

    detail: bool  # as ViewSetMixin declares it (None before dispatch)

    def filter_queryset(self, queryset: Any) -> Any:
        if self.detail:
            return queryset
        return super().filter_queryset(queryset)  # type: ignore[misc]
