"""Tasks and their history in the Django admin.

Every change an operator makes goes through `tasks.services`, so it writes its event,
bumps the version and invalidates caches exactly as a change through the API does.
Lists stay fast with a million tasks and a hundred thousand users: no filter lists
users or runs DISTINCT over the tasks, no facet counts, no second (unfiltered) count.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ShowFacets
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.models import User
from accounts.usernames import lowered
from taskmanager.admin_base import InputFilter, VersionedAdminForm
from taskmanager.exceptions import DomainError, NotFoundError, PreconditionFailedError
from tasks import services
from tasks.models import Task
from tasks.selectors import overdue_q

# A bulk status change runs one short transaction per task (lock, update, event);
# this bounds how long one admin request may take.
BULK_LIMIT = 1000
# The fields an operator edits; the rest is derived (version, completed_at, ...).
EDITABLE_FIELDS = (
    "title",
    "project",
    "description",
    "priority",
    "status",
    "due_date",
    "assignee",
)


class UsernameFilter(InputFilter):
    """Tasks whose `field` is the user with this username (any case), found through
    the user's unique LOWER(username) index and then the task's index on `field`."""

    field = ""
    placeholder = "username"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.cleaned_value()
        if not value:
            return queryset
        if "\x00" in value:  # no username has one (PostgreSQL refuses it in a query: a 500)
            return queryset.none()
        return queryset.filter(**{f"{self.field}__username__lower": lowered(value)})


class OwnerFilter(UsernameFilter):
    title = "owner"
    parameter_name = "owner_username"
    field = "owner"


class AssigneeFilter(UsernameFilter):
    title = "assignee"
    parameter_name = "assignee_username"
    field = "assignee"


class ProjectFilter(InputFilter):
    """Tasks of the project of this id, or of the projects of this name (any case):
    projects are many (one per user), so typed, never listed."""

    title = "project"
    parameter_name = "project"
    placeholder = "id or name"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.cleaned_value()
        if not value:
            return queryset
        if "\x00" in value:  # no name has one (PostgreSQL refuses it in a query: a 500)
            return queryset.none()
        # ASCII digits only ("²" is a digit to isdigit(), not to int()), within a bigint.
        if value.isascii() and value.isdigit():
            return queryset.filter(project_id=int(value)) if len(value) <= 18 else queryset.none()
        return queryset.filter(project__name__iexact=value)


class OverdueFilter(admin.SimpleListFilter):
    """The API's `overdue` filter: due in the past and not completed."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> QuerySet[Task]:
        if self.value() == "yes":
            return queryset.filter(overdue_q())
        if self.value() == "no":
            return queryset.exclude(overdue_q())
        return queryset


class TaskAdminForm(VersionedAdminForm):
    class Meta:
        model = Task
        fields = [*EDITABLE_FIELDS, "loaded_version"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = cast(forms.ModelChoiceField, self.fields["assignee"])
        # As in the API, only active users can be assigned; a task already assigned
        # to a deactivated user still saves when the assignee is left alone.
        assignee.queryset = User.objects.filter(Q(is_active=True) | Q(pk=self.instance.assignee_id))


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    form = TaskAdminForm
    list_display = [
        "title",
        "project",
        "status",
        "priority",
        "owner",
        "assignee",
        "due_date",
        "created_at",
        "version",
    ]
    list_select_related = ["owner", "assignee", "project"]
    # Choices come from the model (no query); users and projects are typed, never listed.
    list_filter = [
        "status",
        "priority",
        OverdueFilter,
        ProjectFilter,
        OwnerFilter,
        AssigneeFilter,
    ]
    # Title only: a search scans the table, and a join to the owner's username would
    # cost more; the owner box filters by index (docs/decisions/admin-lists.md).
    search_fields = ["title"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    autocomplete_fields = ["project", "assignee"]
    readonly_fields = ["owner", "created_at", "updated_at", "completed_at", "version"]
    fields = [
        "title",
        "project",
        "description",
        "priority",
        "status",
        "due_date",
        "assignee",
        "loaded_version",
        "owner",
        "created_at",
        "updated_at",
        "completed_at",
        "version",
    ]
    actions = ["mark_pending", "mark_in_progress", "mark_completed"]

    # Add and change: the service writes, the form only validates.

    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        actor = _user(request)
        values = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
        if change:
            saved = services.task_update(
                actor=actor,
                task_id=obj.pk,
                data={name: values[name] for name in form.changed_data if name in values},
                if_match=form.cleaned_data.get("loaded_version"),
            )
        else:
            saved = services.task_create(actor=actor, **values)
        # The admin logs and redirects with the object it passed in.
        for field in Task._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PreconditionFailedError:
            self.message_user(
                request,
                "Someone changed this task since you opened it; nothing was saved. "
                "Review its current state and save again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        except DomainError as exc:
            return self._refused(request, exc)

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        services.task_delete(actor=_user(request), task_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        actor = _user(request)
        for task in queryset:
            try:
                services.task_delete(actor=actor, task_id=task.pk)
            except NotFoundError:
                pass  # deleted meanwhile: what was asked for
            except DomainError as exc:
                self.message_user(request, f'"{task}" not deleted: {exc.summary()}', messages.ERROR)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            return self._refused(request, exc)

    def _refused(self, request: HttpRequest, exc: DomainError) -> HttpResponse:
        # The admin's transaction rolled back; say why instead of answering 500.
        self.message_user(request, exc.summary(), messages.ERROR)
        if isinstance(exc, NotFoundError):
            return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))
        return HttpResponseRedirect(request.get_full_path())

    # Bulk status change: the API's write, task by task.

    @admin.action(description="Mark as pending", permissions=["change"])
    def mark_pending(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._set_status(request, queryset, Task.Status.PENDING)

    @admin.action(description="Mark as in progress", permissions=["change"])
    def mark_in_progress(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._set_status(request, queryset, Task.Status.IN_PROGRESS)

    @admin.action(description="Mark as completed", permissions=["change"])
    def mark_completed(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._set_status(request, queryset, Task.Status.COMPLETED)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Task], status: str) -> None:
        tasks = list(queryset.order_by("pk")[: BULK_LIMIT + 1])
        if len(tasks) > BULK_LIMIT:
            self.message_user(
                request,
                f"Select at most {BULK_LIMIT} tasks for a status change (narrow the "
                "list with filters); nothing was changed.",
                messages.ERROR,
            )
            return
        actor = _user(request)
        changed = unchanged = 0
        for task in tasks:
            try:
                saved = services.task_update(actor=actor, task_id=task.pk, data={"status": status})
            except DomainError as exc:
                self.message_user(request, f'"{task}" not changed: {exc.summary()}', messages.ERROR)
                continue
            if saved.version != task.version:
                changed += 1
            else:
                unchanged += 1
        label = Task.Status(status).label.lower()
        self.message_user(
            request,
            f"{changed} task(s) marked as {label}; {unchanged} already were.",
            messages.SUCCESS if changed else messages.INFO,
        )


def _user(request: HttpRequest) -> User:
    # The admin site lets only logged-in staff users this far.
    return cast(User, request.user)
