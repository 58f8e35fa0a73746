"""Projects, their members and labels in the Django admin.

Every change an operator makes goes through `projects.services`, so it records its
event, moves the project's version and runs the other apps' hooks (a removed member's
assignments cleared, a deleted project's tasks deleted, cached lists dropped) exactly
as a change through the API does. A refusal of the services (the last admin, the
personal project, an archived project) is an error message, never a 500.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ShowFacets
from django.core.validators import RegexValidator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.models import User
from accounts.usernames import lowered
from projects import services
from projects.errors import LabelNameTakenError
from projects.models import Label, Membership, Project, ProjectRole
from projects.serializers import COLOR_PATTERN
from taskmanager.admin_base import VersionedAdminForm
from taskmanager.exceptions import DomainError, NotFoundError, PreconditionFailedError

# Archiving runs one short transaction per project; this bounds one admin request.
BULK_LIMIT = 1000
STALE_FORM = (
    "Someone changed this {what} since you opened it; nothing was saved. "
    "Review its current state and save again."
)


class ServiceRefusals(admin.ModelAdmin):
    """The add, change and delete views of a model the services write: a DomainError
    (raised inside the view's transaction, which rolls back) becomes an error message
    and a redirect."""

    # How the stale-form message names the object.
    noun = "object"

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            return self._refused(request, exc, request.get_full_path())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            return self._refused(request, exc, self._url("change", object_id))

    def _refused(self, request: HttpRequest, exc: DomainError, back: str) -> HttpResponse:
        if isinstance(exc, PreconditionFailedError):
            self.message_user(request, STALE_FORM.format(what=self.noun), messages.ERROR)
        else:
            self.message_user(request, exc.summary(), messages.ERROR)
        if isinstance(exc, NotFoundError):
            return HttpResponseRedirect(self._url("changelist"))
        return HttpResponseRedirect(back)

    def _url(self, view: str, *args: Any) -> str:
        meta = self.model._meta
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def _copy_saved(obj: Any, saved: Any) -> None:
    """The admin logs and redirects with the object it passed in: give it the row the
    service wrote."""
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


def _user(request: HttpRequest) -> User:
    # The admin site lets only logged-in staff users this far.
    return cast(User, request.user)


# Projects


class PersonalFilter(admin.SimpleListFilter):
    title = "personal"
    parameter_name = "personal"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> QuerySet[Project]:
        if self.value() == "yes":
            return queryset.filter(personal_owner__isnull=False)
        if self.value() == "no":
            return queryset.filter(personal_owner__isnull=True)
        return queryset


class ProjectAdminForm(VersionedAdminForm):
    # The version moves with the project's members too.
    class Meta:
        model = Project
        fields = ["name", "description", "is_archived", "loaded_version"]


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # New rows start as plain members (and an untouched extra row stays empty).
        self.fields["role"].initial = ProjectRole.MEMBER
        if self.instance.pk:
            # Another user is another membership: remove this one, add theirs.
            self.fields["user"].disabled = True


class MembershipInline(admin.TabularInline):
    """The members, changed through `member_add`, `member_set_role`, `member_remove`
    (ProjectAdmin.save_formset)."""

    model = Membership
    form = MembershipForm
    fields = ["user", "role", "added_at"]
    readonly_fields = ["added_at"]
    autocomplete_fields = ["user"]
    extra = 1

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user").order_by("added_at", "id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A personal project takes no other member (the service would refuse it).
        if obj is not None and obj.is_personal:
            return False
        return super().has_add_permission(request, obj)


@admin.register(Project)
class ProjectAdmin(ServiceRefusals):
    form = ProjectAdminForm
    noun = "project"
    inlines = [MembershipInline]
    list_display = [
        "name",
        "id",
        "personal_owner",
        "is_archived",
        "members",
        "created_at",
        "updated_at",
        "version",
    ]
    list_select_related = ["personal_owner"]
    list_filter = ["is_archived", PersonalFilter]
    # Also what the task form's project autocomplete searches.
    search_fields = ["name"]
    ordering = ["-id"]
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    readonly_fields = ["personal_owner", "created_at", "updated_at", "version"]
    fields = [
        "name",
        "description",
        "is_archived",
        "loaded_version",
        "personal_owner",
        "created_at",
        "updated_at",
        "version",
    ]
    actions = ["archive", "unarchive"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        # A correlated subquery: it runs for the page's rows only, and the paginator's
        # COUNT(*) leaves it out (a GROUP BY would aggregate every membership).
        count = (
            Membership.objects.filter(project_id=OuterRef("pk"))
            .order_by()
            .values("project_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(members_count=Coalesce(Subquery(count, output_field=IntegerField()), 0))
        )

    @admin.display(description="members")
    def members(self, project: Project) -> int:
        return int(getattr(project, "members_count", 0))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            # A new project is a shared one, not archived; its creator is its admin.
            return ["name", "description"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting a project deletes its tasks: one at a time, through its own page,
        # which lists what goes with it.
        actions.pop("delete_selected", None)
        return actions

    # Add and change: the services write, the forms only validate.

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        actor = _user(request)
        data = form.cleaned_data
        if change:
            saved = services.project_update(
                actor=actor,
                project_id=obj.pk,
                data={
                    name: data[name]
                    for name in ("name", "description", "is_archived")
                    if name in form.changed_data
                },
                if_match=data.get("loaded_version"),
            )
        else:
            saved = services.project_create(
                actor=actor, name=data["name"], description=data["description"]
            )
        _copy_saved(obj, saved)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The members' rows, each through its service: additions, then promotions to
        admin, then other role changes, then removals, so that one save can hand the
        admin role over without passing through "no admin" (LastAdminError)."""
        actor = _user(request)
        project = formset.instance
        ticked = formset.deleted_forms
        added: list[forms.ModelForm] = []
        promoted: list[forms.ModelForm] = []
        changed: list[forms.ModelForm] = []
        removed: list[Membership] = []
        for row in formset.initial_forms:
            if row in ticked:
                removed.append(row.instance)
            elif row.has_changed():
                (promoted if row.cleaned_data["role"] == ProjectRole.ADMIN else changed).append(row)
        for row in formset.extra_forms:
            if row.has_changed() and row not in ticked:
                added.append(row)

        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in added:
            membership = services.member_add(
                actor=actor,
                project_id=project.pk,
                identifier=row.cleaned_data["user"].username,
                role=row.cleaned_data["role"],
            )
            row.instance = membership
            formset.new_objects.append(membership)
        for row in [*promoted, *changed]:
            membership = services.member_set_role(
                actor=actor,
                project_id=project.pk,
                user_id=row.instance.user_id,
                role=row.cleaned_data["role"],
            )
            formset.changed_objects.append((membership, row.changed_data))
        for membership in removed:
            services.member_remove(actor=actor, project_id=project.pk, user_id=membership.user_id)
            formset.deleted_objects.append(membership)
        if added or promoted or changed or removed:
            # Membership changes moved the project's version: the page shows it.
            project.refresh_from_db(fields=["version", "updated_at"])

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_delete(actor=_user(request), project_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        # Not offered as an action (get_actions); kept on the services all the same.
        for project in queryset:
            self.delete_model(request, project)

    # Archive and unarchive: the API's write, project by project.

    @admin.action(description="Archive (read-only, left out of task lists)", permissions=["change"])
    def archive(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        self._set_archived(request, queryset, True)

    @admin.action(description="Unarchive", permissions=["change"])
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        self._set_archived(request, queryset, False)

    def _set_archived(
        self, request: HttpRequest, queryset: QuerySet[Project], archived: bool
    ) -> None:
        projects = list(queryset.order_by("pk")[: BULK_LIMIT + 1])
        if len(projects) > BULK_LIMIT:
            self.message_user(
                request,
                f"Select at most {BULK_LIMIT} projects (narrow the list with filters); "
                "nothing was changed.",
                messages.ERROR,
            )
            return
        actor = _user(request)
        changed = 0
        for project in projects:
            try:
                saved = services.project_update(
                    actor=actor, project_id=project.pk, data={"is_archived": archived}
                )
            except DomainError as exc:
                self.message_user(
                    request, f'"{project}" not changed: {exc.summary()}', messages.ERROR
                )
                continue
            changed += saved.version != project.version
        done = "archived" if archived else "unarchived"
        self.message_user(
            request,
            f"{changed} project(s) {done}; {len(projects) - changed} already were.",
            messages.SUCCESS if changed else messages.INFO,
        )


# Labels


class LabelAdminForm(forms.ModelForm):
    color = forms.CharField(
        max_length=7,
        validators=[RegexValidator(COLOR_PATTERN, "A colour is #rrggbb, e.g. #1f77b4.")],
        help_text="#rrggbb",
    )

    class Meta:
        model = Label
        fields = ["project", "name", "color"]

    def clean(self) -> dict[str, Any]:
        # The service's rule, said in its words while the form keeps what was typed
        # (the constraint's own message names the constraint); the service checks it
        # again under its lock.
        data = super().clean() or {}
        project = data.get("project")
        project_id = project.pk if project is not None else self.instance.project_id
        name = data.get("name")
        if project_id is not None and name:
            taken = Label.objects.filter(project_id=project_id, name__lower=lowered(name))
            if taken.exclude(pk=self.instance.pk).exists():
                self.add_error("name", LabelNameTakenError.message)
        return data


@admin.register(Label)
class LabelAdmin(ServiceRefusals):
    form = LabelAdminForm
    noun = "label"
    list_display = ["name", "color", "project", "created_at"]
    list_select_related = ["project"]
    search_fields = ["name"]
    ordering = ["-id"]
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    autocomplete_fields = ["project"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["project", "name", "color"]
        return ["project", "name", "color", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A label stays in its project (its tasks are there).
        return [] if obj is None else ["project", "created_at"]

    def save_model(self, request: HttpRequest, obj: Label, form: Any, change: bool) -> None:
        actor = _user(request)
        data = form.cleaned_data
        if change:
            saved = services.label_update(
                actor=actor,
                label_id=obj.pk,
                data={name: data[name] for name in ("name", "color") if name in form.changed_data},
            )
        else:
            saved = services.label_create(
                actor=actor, project_id=data["project"].pk, name=data["name"], color=data["color"]
            )
        _copy_saved(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Label) -> None:
        services.label_delete(actor=_user(request), label_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Label]) -> None:
        actor = _user(request)
        for label in queryset.order_by("pk"):
            try:
                services.label_delete(actor=actor, label_id=label.pk)
            except NotFoundError:
                pass  # deleted meanwhile: what was asked for
            except DomainError as exc:
                self.message_user(
                    request, f'"{label}" not deleted: {exc.summary()}', messages.ERROR
                )
