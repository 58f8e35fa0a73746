"""Comments in the Django admin: every add, change and delete goes through
`comments.services`, so it records its event, recomputes mentions and notifies as a
change through the API does; a refusal (an archived project) is an error message."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ShowFacets
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from comments import services
from comments.models import Comment
from comments.serializers import BLANK, MAX_BODY
from projects.admin import ServiceRefusals
from taskmanager.exceptions import DomainError, NotFoundError

PREVIEW_CHARS = 80


class CommentAdminForm(forms.ModelForm):
    # As the API takes it: kept as written, 1 to MAX_BODY characters, not only spaces.
    body = forms.CharField(widget=forms.Textarea, strip=False, max_length=MAX_BODY)

    class Meta:
        model = Comment
        fields = ["task", "body"]

    def clean_body(self) -> str:
        body = str(self.cleaned_data["body"])
        if not body.strip():
            raise forms.ValidationError(BLANK)
        return body


@admin.register(Comment)
class CommentAdmin(ServiceRefusals):
    form = CommentAdminForm
    noun = "comment"
    list_display = ["id", "preview", "task", "author", "created_at", "edited"]
    list_select_related = ["task", "author"]
    search_fields = ["body"]
    raw_id_fields = ["task"]
    ordering = ["-id"]
    show_full_result_count = False
    show_facets = ShowFacets.NEVER

    @admin.display(description="body")
    def preview(self, comment: Comment) -> str:
        body = comment.body
        return body if len(body) <= PREVIEW_CHARS else f"{body[: PREVIEW_CHARS - 1]}…"

    @admin.display(description="mentions")
    def mentioned(self, comment: Comment) -> str:
        return ", ".join(user.username for user in comment.mentions.order_by("pk"))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["task", "body"]
        return ["task", "author", "body", "mentioned", "created_at", "updated_at", "edited"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A comment stays on its task, by its author; mentions follow the body.
        if obj is None:
            return []
        return ["task", "author", "mentioned", "created_at", "updated_at", "edited"]

    def save_model(self, request: HttpRequest, obj: Comment, form: Any, change: bool) -> None:
        actor = cast(User, request.user)  # the admin site lets only staff users this far
        body = form.cleaned_data["body"]
        if change:
            saved = services.comment_update(actor=actor, comment_id=obj.pk, body=body)
        else:
            saved = services.comment_create(actor=actor, task=form.cleaned_data["task"], body=body)
        for field in Comment._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The service set the mentions; the form has no many-to-many field to save.
        pass

    def delete_model(self, request: HttpRequest, obj: Comment) -> None:
        services.comment_delete(actor=cast(User, request.user), comment_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Comment]) -> None:
        actor = cast(User, request.user)
        for comment in queryset.order_by("pk"):
            try:
                services.comment_delete(actor=actor, comment_id=comment.pk)
            except NotFoundError:
                pass  # deleted meanwhile: what was asked for
            except DomainError as exc:
                self.message_user(
                    request, f'"{comment}" not deleted: {exc.summary()}', messages.ERROR
                )
