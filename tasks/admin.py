"""Tasks and their history in the Django admin.

Every change an operator makes goes through `tasks.services`, so it writes its event,
bumps the version and invalidates caches exactly as a change through the API does.
Lists stay fast with a million tasks and a hundred thousand users: no filter lists
users or runs DISTINCT over the tasks, no facet counts, no second (unfiltered) count.

Relations between tasks are added and deleted (never changed) on their own admin
pages, through `relation_create` and `relation_delete`; a task's page lists its own
and links there.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ShowFacets
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from accounts.models import User
from accounts.usernames import lowered
from projects.admin import ServiceRefusals
from projects.models import Label
from taskmanager.admin_base import InputFilter, VersionedAdminForm
from taskmanager.exceptions import DomainError, NotFoundError
from tasks import services
from tasks.errors import RelationExistsError
from tasks.models import Relation, Task
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
    "labels",
    "parent",
)
# Left off the add form: labels are offered among the project's once the task has
# one, and the rest is derived from the saved task.
NOT_ON_ADD = frozenset({"labels", "position", "subtasks", "blocked", "relations"})
# A task's page lists at most this many of its relations (the rest: "all relations").
RELATIONS_SHOWN = 20


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


def _id_or_none(value: str) -> int | None:
    # ASCII digits only ("²" is a digit to isdigit(), not to int()), within a bigint.
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


class TaskIdFilter(InputFilter):
    """A task id typed into a box: subclasses say what matches it (`matching`)."""

    placeholder = "task id"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.cleaned_value()
        if not value:
            return queryset
        task_id = _id_or_none(value)
        return queryset.none() if task_id is None else queryset.filter(self.matching(task_id))

    def matching(self, task_id: int) -> Q:
        raise NotImplementedError


class ParentFilter(TaskIdFilter):
    """The subtasks of the task of this id (the parent's page links here)."""

    title = "parent task"
    parameter_name = "parent"

    def matching(self, task_id: int) -> Q:
        return Q(parent_id=task_id)


class BlockedFilter(admin.SimpleListFilter):
    """The API's `blocked` filter: a task that blocks it is not completed."""

    title = "blocked"
    parameter_name = "blocked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> QuerySet[Task]:
        if self.value() == "yes":
            return queryset.filter(open_blockers__gt=0)
        if self.value() == "no":
            return queryset.filter(open_blockers=0)
        return queryset


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
        if "labels" in self.fields:
            # The project's labels (a project has few; another's is "not a valid choice").
            labels = cast(forms.ModelMultipleChoiceField, self.fields["labels"])
            labels.queryset = Label.objects.filter(project_id=self.instance.project_id).order_by(
                "name", "id"
            )
            labels.help_text = (
                "Labels of the task's project. Moved to another project, the task leaves "
                "its labels: choose the new project's after saving the move."
            )

    def clean(self) -> dict[str, Any]:
        # The services' rules on labels and parent, said on the form while it keeps
        # what was typed; the service checks them again (depth and cycles only there).
        data = super().clean() or {}
        project = data.get("project")
        project_id = project.pk if project is not None else self.instance.project_id
        labels = data.get("labels")
        if labels and "labels" in self.changed_data:
            for label in labels:
                if label.project_id != project_id:
                    self.add_error(
                        "labels", f'"{label.name}" is not a label of the task\'s project.'
                    )
        parent = data.get("parent")
        if parent is not None and {"parent", "project"} & set(self.changed_data):
            if parent.pk == self.instance.pk:
                self.add_error("parent", "A task cannot be its own parent.")
            elif parent.project_id != project_id:
                self.add_error("parent", f"No task {parent.pk} in the task's project.")
        return data


@admin.register(Task)
class TaskAdmin(ServiceRefusals):
    noun = "task"
    form = TaskAdminForm
    list_display = [
        "title",
        "project",
        "status",
        "priority",
        "owner",
        "assignee",
        "due_date",
        "blocked",
        "created_at",
        "version",
    ]
    list_select_related = ["owner", "assignee", "project"]
    # Choices come from the model (no query); users and projects are typed, never listed.
    list_filter = [
        "status",
        "priority",
        OverdueFilter,
        BlockedFilter,
        ProjectFilter,
        OwnerFilter,
        AssigneeFilter,
        ParentFilter,
    ]
    # Title only: a search scans the table, and a join to the owner's username would
    # cost more; the owner box filters by index (docs/decisions/admin-lists.md).
    search_fields = ["title"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    autocomplete_fields = ["project", "assignee"]
    # Typed as an id: a project may hold many tasks.
    raw_id_fields = ["parent"]
    filter_horizontal = ["labels"]
    readonly_fields = [
        "owner",
        "created_at",
        "updated_at",
        "completed_at",
        "version",
        "position",
        "subtasks",
        "blocked",
        "relations",
    ]
    fields = [
        "title",
        "project",
        "description",
        "priority",
        "status",
        "due_date",
        "assignee",
        "labels",
        "parent",
        "loaded_version",
        "owner",
        "created_at",
        "updated_at",
        "completed_at",
        "version",
        "position",
        "subtasks",
        "blocked",
        "relations",
    ]
    actions = ["mark_pending", "mark_in_progress", "mark_completed"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        return [name for name in fields if name not in NOT_ON_ADD] if obj is None else fields

    # What the services keep on the row, and the task's relations.

    @admin.display(description="subtasks")
    def subtasks(self, task: Task) -> str:
        if not task.subtasks_total:
            return "none"
        url = reverse("admin:tasks_task_changelist") + "?" + urlencode({"parent": task.pk})
        return format_html(
            '<a href="{}">{} of {} completed</a>', url, task.subtasks_completed, task.subtasks_total
        )

    @admin.display(description="blocked", boolean=True)
    def blocked(self, task: Task) -> bool:
        return task.open_blockers > 0

    @admin.display(description="relations")
    def relations(self, task: Task) -> SafeString:
        rows = list(
            Relation.objects.filter(Q(task_id=task.pk) | Q(other_id=task.pk))
            .select_related("task", "other")
            .order_by("id")[: RELATIONS_SHOWN + 1]
        )
        kinds = dict(Relation.Kind.choices)
        lines = format_html_join(
            "",
            '<li><a href="{}">{} {} {}</a></li>',
            (
                (
                    reverse("admin:tasks_relation_change", args=[relation.pk]),
                    "this task" if relation.task_id == task.pk else _named(relation.task),
                    kinds.get(relation.kind, relation.kind).lower(),
                    "this task" if relation.other_id == task.pk else _named(relation.other),
                )
                for relation in rows[:RELATIONS_SHOWN]
            ),
        )
        everything = reverse("admin:tasks_relation_changelist") + "?" + urlencode({"task": task.pk})
        add = reverse("admin:tasks_relation_add") + "?" + urlencode({"task": task.pk})
        more = format_html(' (<a href="{}">all relations</a>)', everything) if rows else ""
        return format_html(
            '<ul style="margin: 0; padding: 0;">{}</ul><a href="{}">Add a relation</a>{}',
            lines or format_html("<li>{}</li>", "none"),
            add,
            more,
        )

    # Add and change: the service writes, the form only validates.

    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        actor = _user(request)
        values = {
            name: _service_value(name, form.cleaned_data[name])
            for name in EDITABLE_FIELDS
            if name in form.cleaned_data
        }
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

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # No `form.save_m2m()`: the service wrote the labels (table and `label_ids`)
        # with the task's version and event; the form would write the table behind it.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

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


def _service_value(name: str, value: Any) -> Any:
    """A form's value as the task services take it: labels and parent by id."""
    if name == "labels":
        return sorted(label.pk for label in value)
    if name == "parent":
        return value.pk if value is not None else None
    return value


def _named(task: Task) -> str:
    return f"#{task.pk} {task.title}"


def _user(request: HttpRequest) -> User:
    # The admin site lets only logged-in staff users this far.
    return cast(User, request.user)


# Relations


class RelationTaskFilter(TaskIdFilter):
    """The relations of the task of this id, either end (a task's page links here)."""

    title = "task"
    parameter_name = "task"

    def matching(self, task_id: int) -> Q:
        return Q(task_id=task_id) | Q(other_id=task_id)


class RelationAdminForm(forms.ModelForm):
    class Meta:
        model = Relation
        fields = ["task", "kind", "other"]

    def clean(self) -> dict[str, Any]:
        # The service's rules in its words, on the form (it checks them again under
        # its locks): not the task itself, not the same kind twice in either direction.
        data = super().clean() or {}
        task, other, kind = data.get("task"), data.get("other"), data.get("kind")
        if task is not None and other is not None:
            if task.pk == other.pk:
                self.add_error("other", "A task cannot be related to itself.")
            elif (
                kind
                and Relation.objects.filter(
                    task_id__in=[task.pk, other.pk], other_id__in=[task.pk, other.pk], kind=kind
                ).exists()
            ):
                self.add_error("other", RelationExistsError.message)
        return data


@admin.register(Relation)
class RelationAdmin(ServiceRefusals):
    """Relations are added and deleted through the services (their events, and the
    `blocked` state of the tasks they block), never changed: another relation is
    deleting this one and adding that one."""

    form = RelationAdminForm
    noun = "relation"
    list_display = ["id", "task", "kind", "other", "created_by", "created_at"]
    list_select_related = ["task", "other", "created_by"]
    list_filter = ["kind", RelationTaskFilter]
    raw_id_fields = ["task", "other"]
    ordering = ["-id"]
    show_full_result_count = False
    show_facets = ShowFacets.NEVER

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["task", "kind", "other"]
        return ["task", "kind", "other", "created_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Relation, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = services.relation_create(
            actor=_user(request), task=data["task"], kind=data["kind"], other_id=data["other"].pk
        )
        for field in Relation._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Relation) -> None:
        services.relation_delete(actor=_user(request), task=obj.task, relation_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Relation]) -> None:
        actor = _user(request)
        for relation in queryset.select_related("task").order_by("pk"):
            try:
                services.relation_delete(actor=actor, task=relation.task, relation_id=relation.pk)
            except NotFoundError:
                pass  # deleted meanwhile: what was asked for
            except DomainError as exc:
                self.message_user(
                    request, f'"{relation}" not deleted: {exc.summary()}', messages.ERROR
                )
