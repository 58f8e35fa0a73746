"""Filters shared by the apps' filtersets: values the database can compare, or 400."""

import copy
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.http import QueryDict
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


class _SharedFieldsForm(forms.Form):
    """A filter form whose instances share their class's fields: Django deep-copies
    every field for every form, which a filter form never changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        shared = self.base_fields
        # Shadowed on the instance: what BaseForm.__init__ deep-copies is then nothing.
        self.__dict__["base_fields"] = {}
        super().__init__(*args, **kwargs)
        self.fields = dict(shared)
        del self.__dict__["base_fields"]


class LeanFilterSet(django_filters.FilterSet):
    """A FilterSet that costs little to build, as the API builds two per list request
    (the unknown-parameter check and the filtering). django-filter deep-copies every
    filter for each instance and builds a form class each time, and the form
    deep-copies every field: about 1 ms a request for the task list (bench/RESULTS.md,
    issue 23). Here each instance copies its filters shallowly (it sets their `model`
    and `parent`), and the form class, built once per FilterSet class, shares fields
    built once. Filters and fields hold no per-request state: nothing changes them
    after they are built."""

    _form_classes: "dict[type, type[forms.Form]]" = {}

    def __init__(
        self,
        data: Any = None,
        queryset: Any = None,
        *,
        request: Any = None,
        prefix: str | None = None,
    ) -> None:
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: copy.copy(f) for name, f in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self
            if filter_.method is not None:
                # Bound again to the copy: `method` binds to the filter it is set on,
                # which finds the method on its parent.
                filter_.method = filter_.method

    def _asked(self) -> bool:
        return any(name in self.filters for name in self.data)

    def is_valid(self) -> bool:
        # Without one of its parameters there is nothing to validate: the form is not
        # built (most list requests; bench/RESULTS.md, issue 26).
        return super().is_valid() if self._asked() else True

    @property
    def qs(self) -> Any:
        if self._asked():
            return super().qs
        return self.unfiltered(self.queryset.all())

    def unfiltered(self, queryset: Any) -> Any:
        """The rows when none of the filters is given: each passes them through."""
        return queryset

    def get_form_class(self) -> type[forms.Form]:
        cls = type(self)
        form_class = LeanFilterSet._form_classes.get(cls)
        if form_class is None:
            # The fields of the class's own filters, built once and kept on them.
            fields = {name: f.field for name, f in cls.base_filters.items()}
            form_class = type(f"{cls.__name__}Form", (_SharedFieldsForm,), fields)
            LeanFilterSet._form_classes[cls] = form_class
        return form_class
