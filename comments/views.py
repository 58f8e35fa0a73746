from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.permissions import request_user
from comments import selectors, services
from comments.models import Comment
from comments.permissions import may_delete, may_edit
from comments.serializers import CommentInputSerializer, CommentOutputSerializer
from taskmanager.exceptions import NotFoundError
from taskmanager.filters import MAX_ID
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    CONDITIONAL_GET,
    NOT_MODIFIED,
    PATH_ID,
    WITH_BODY,
    ErrorSerializer,
    errors,
)
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle
from tasks.models import Task
from tasks.permissions import may_change
from tasks.selectors import task_visible_to, task_writable_view_of

TASK_ID = OpenApiParameter("task_id", PATH_ID, OpenApiParameter.PATH, description="The task's id.")
# A write: not allowed (or a cookie without CSRF) 403, not visible 404, an unknown
# query parameter 400, the task's project archived 409.
COMMENT_WRITE = (*AUTHENTICATED_WRITE, 400, 404, 429)
ARCHIVED = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="Conflicts with the project's state:\n- `project_archived`: the task's "
        "project is archived, and read-only until an admin unarchives it",
    )
}


def _id(value: str | None) -> int:
    """A URL's id (ASCII digits: the route's pattern), 404 past the column's range."""
    if value is None or len(value) > len(str(MAX_ID)) or int(value) > MAX_ID:
        raise NotFoundError()
    return int(value)


class _Comments(StrictQueryParametersMixin, RateLimitHeadersMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadWriteThrottle]
    serializer_class = CommentOutputSerializer
    lookup_value_regex = r"[0-9]+"

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        # The browsable API builds its forms from this, asking with the form's method.
        if self.request is not None and self.request.method in ("POST", "PATCH"):
            return CommentInputSerializer
        return CommentOutputSerializer

    def _written(self, comment_id: int, code: int = status.HTTP_200_OK) -> Response:
        comment = selectors.comment_visible_to(request_user(self.request)).get(pk=comment_id)
        return Response(CommentOutputSerializer(comment).data, status=code)


@extend_schema_view(
    list=extend_schema(
        summary="The comments on a task",
        description="Oldest first. Everyone who sees the task reads them.",
        parameters=[TASK_ID, *CONDITIONAL_GET],
        responses={
            200: CommentOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404),
        },
    ),
    create=extend_schema(
        summary="Comment on a task (the project's admins and members)",
        description="Viewers of the project get 403. `@username` of a member of the "
        "project (any role) mentions them, and notifies them; other names are left as "
        "text. The task itself does not change (nor its version).",
        parameters=[TASK_ID],
        request=CommentInputSerializer,
        responses={201: CommentOutputSerializer, **errors(COMMENT_WRITE, WITH_BODY), **ARCHIVED},
    ),
)
@extend_schema(tags=["comments"])
class TaskCommentViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, _Comments):
    http_method_names = ["get", "post", "head", "options"]

    def _task(self, *, write: bool) -> Task:
        """The task of the URL as the caller sees it (404 outside); for a write, with
        its project and the caller's role in it."""
        user = request_user(self.request)
        tasks = task_writable_view_of(user) if write else task_visible_to(user)
        task = tasks.filter(pk=_id(self.kwargs.get("task_id"))).first()
        if task is None:
            raise NotFoundError()
        return task

    def get_queryset(self) -> QuerySet[Comment]:
        if getattr(self, "swagger_fake_view", False):  # the schema's, without a URL
            return Comment.objects.none()
        return selectors.comments_of(self._task(write=False).pk)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self._task(write=True)
        user = request_user(request)
        if not may_change(user, task):
            raise PermissionDenied("Viewers of a project only read its comments.")
        payload = CommentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = services.comment_create(
            actor=user, task=task, body=payload.validated_data["body"]
        )
        return self._written(comment.pk, status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(
        summary="Get a comment",
        parameters=CONDITIONAL_GET,
        responses={
            200: CommentOutputSerializer,
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404),
        },
    ),
    partial_update=extend_schema(
        summary="Change a comment's text (its author)",
        description="Only the author changes it, while they may write in the project "
        "(others get 403). A new text marks the comment `edited`; its mentions are those "
        "of the new text, and only the newly mentioned are notified.",
        request=CommentInputSerializer,
        responses={200: CommentOutputSerializer, **errors(COMMENT_WRITE, WITH_BODY), **ARCHIVED},
    ),
    destroy=extend_schema(
        summary="Delete a comment (its author or the project's admins)",
        description="Its author (while they may write in the project), the admins of "
        "the task's project and site admins delete it; others get 403.",
        responses={204: None, **errors(COMMENT_WRITE), **ARCHIVED},
    ),
)
@extend_schema(tags=["comments"])
class CommentViewSet(
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    _Comments,
):
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Comment]:
        return selectors.comment_visible_to(request_user(self.request))

    def get_object(self) -> Comment:
        comment = self.get_queryset().filter(pk=_id(self.kwargs.get("pk"))).first()
        if comment is None:
            raise NotFoundError()
        return comment

    def _task_of(self, comment: Comment) -> Task:
        """The comment's task with its project and the caller's role in it."""
        task = task_writable_view_of(request_user(self.request)).filter(pk=comment.task_id).first()
        if task is None:  # deleted meanwhile
            raise NotFoundError()
        return task

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        comment = self.get_object()
        user = request_user(request)
        if not may_edit(user, comment, self._task_of(comment)):
            raise PermissionDenied("Only the author of a comment changes it.")
        payload = CommentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.comment_update(
            actor=user, comment_id=comment.pk, body=payload.validated_data["body"]
        )
        return self._written(comment.pk)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        comment = self.get_object()
        user = request_user(request)
        if not may_delete(user, comment, self._task_of(comment)):
            raise PermissionDenied(
                "Only the author of a comment and the project's admins delete it."
            )
        services.comment_delete(actor=user, comment_id=comment.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
