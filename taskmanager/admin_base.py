"""What the apps' admins share: a read-only admin for what only the services write,
a list filter typed into a box, and the form of an object with a version."""

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import ShowFacets
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR, ChangeList
from django.contrib.admin.widgets import AdminTextareaWidget
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices


class InputFilter(admin.SimpleListFilter):
    """A text box in the filter sidebar, for columns with too many values to list as
    links (users). Subclasses set `title`, `parameter_name`, `placeholder` and
    override `queryset`."""

    template = "admin/input_filter.html"
    placeholder = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        return ()

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: ChangeList) -> Iterator["_ListFilterChoices"]:
        # One choice: the value typed, and the link that clears it.
        value = self.value() or ""
        yield {
            "selected": bool(value),
            "query_string": changelist.get_query_string(remove=[str(self.parameter_name)]),
            "display": value,
        }

    def other_params(self) -> list[tuple[str, str]]:
        """The query's other parameters (search, ordering, other filters), which the
        template's form sends again; without the page, which a new filter resets."""
        return [
            (name, value)
            for name, values in self.request.GET.lists()
            if name not in (self.parameter_name, PAGE_VAR, ERROR_FLAG)
            for value in values
        ]

    def cleaned_value(self) -> str:
        return (self.value() or "").strip()


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by operators; written only by the services. No second (unfiltered)
    count and no facet counts: these lists are long (docs/decisions/admin-lists.md)."""

    show_full_result_count = False
    show_facets = ShowFacets.NEVER

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VersionedAdminForm(forms.ModelForm):
    """The change form of a task or a project: `description` as the API keeps it, and
    the version the operator saw (`loaded_version`), for the save to fail, as an API
    write with If-Match does, when someone changed the object since the form opened."""

    description = forms.CharField(
        widget=AdminTextareaWidget, required=False, strip=False, max_length=10000
    )
    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["loaded_version"].initial = self.instance.version
