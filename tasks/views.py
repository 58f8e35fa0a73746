import builtins
import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Case, Max, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.models import User
from accounts.permissions import request_user
from activity.models import Event
from projects.models import WRITE_ROLES, Membership, Project
from projects.selectors import label_visible_to, project_ids_of, project_visible_to, role_in
from taskmanager.filters import MAX_ID, FiltersOnListsOnly
from taskmanager.pagination import LimitOffsetPagination
from taskmanager.preconditions import (
    IF_MATCH,
    IF_NONE_MATCH_WRITE,
    ObjectVersion,
    check_preconditions,
    etag,
    etag_of,
)
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.readahead import ScriptRead
from taskmanager.schema import (
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    CONDITIONAL_GET,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    PATH_ID,
    WITH_BODY,
    BodyRulesSchema,
    ErrorSerializer,
    errors,
    etag_header,
)
from taskmanager.throttles import (
    BulkTasksThrottle,
    RateLimitHeadersMixin,
    ReadWriteThrottle,
    user_ident,
)
from tasks import caching, listing, selectors, services
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.permissions import TaskAccess, may_change, may_delete
from tasks.serializers import (
    NO_SUCH_PROJECT,
    BulkDeleteInputSerializer,
    BulkUpdateInputSerializer,
    EventFeedQuerySerializer,
    MoveInputSerializer,
    RelationInputSerializer,
    RelationOutputSerializer,
    StatisticsOutputSerializer,
    TaskEventOutputSerializer,
    TaskInputSerializer,
    TaskOutputSerializer,
    relation_seen_from,
)
from tasks.state import STATE_COLUMNS, task_state

# The live page starts with the most recent tasks; changes to older ones join it.
LIVE_PAGE_TASKS = 100
# Read from `project_visible_to`, whose `my_role` annotation (the user's role) the
# page needs: viewers get no status control.
LIVE_PAGE_PROJECT_FIELDS = ("id", "name", "my_role", "is_archived")

# Visible ASCII, spaces inside only (RFC 9110's field value; servers strip the ends).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_KEY_PATTERN},
    OpenApiParameter.HEADER,
    description="Makes a retried create safe: 1 to 255 printable ASCII characters, such as a UUID",
)


TASK_ETAG_IS = 'The task\'s version: `"<id>-<version>"`'
TASK_ETAG = etag_header(200, TASK_ETAG_IS)
# A change of one task: not yours to change (or a cookie without CSRF) 403, not visible
# 404, its project archived 409, an `If-Match` of another version (or an
# `If-None-Match` of this one) 412, a malformed one 400.
TASK_WRITE = (*AUTHENTICATED_WRITE, 400, 404, 409, 412, 429)

ARCHIVED = "`project_archived`: the task's project is archived, and read-only"


def conflicts(*codes: str) -> dict[int, OpenApiResponse]:
    """The 409 of a task operation, naming the codes it may answer with."""
    lines = "".join(f"\n- {code}" for code in codes)
    return {409: OpenApiResponse(ErrorSerializer, description=f"Conflicts with the state:{lines}")}


class TaskSchema(BodyRulesSchema):
    """The statistics take the list's filters: their parameters are the list's."""

    def get_filter_backends(self) -> builtins.list[Any]:
        if getattr(self.view, "action", None) == "statistics":
            return builtins.list(getattr(self.view, "filter_backends", []))
        return super().get_filter_backends()


def check_project_write(user: User, project: Project) -> None:
    """A task may go into `project` (created or moved there): the user writes there
    (or changes every task). One they cannot see is named as if it did not exist."""
    if user.has_perm("tasks.change_any_task"):
        return
    role = role_in(user.pk, project.pk)
    if role is None:
        raise ValidationError({"project": [NO_SUCH_PROJECT.format(pk_value=project.pk)]})
    if role not in WRITE_ROLES:
        raise PermissionDenied("Viewers of a project only read its tasks.")


# Query parameters that change which rows a list holds (not their order or page).
_NOT_FILTERS = frozenset({"limit", "offset", "ordering", "format"})
# A list (statistics) asked with these only is without filters (tasks.listing).
_PAGE_ONLY = frozenset({"limit", "offset", "format"})
_FORMAT_ONLY = frozenset({"format"})


def _filter_params(request: Request) -> str:
    """The list's filters, in a canonical order: what its count depends on."""
    query = request.query_params
    return "&".join(
        f"{name}={value}"
        for name in sorted(set(query) - _NOT_FILTERS)
        for value in sorted(query.getlist(name))
    )


def _task_id(pk: str | None) -> int | None:
    """The id a URL's `pk` (ASCII digits: lookup_value_regex) names, or None past the
    column's range: no task has it, SQLite cannot send it, and int() refuses
    thousands of digits."""
    if pk is None or len(pk) > len(str(MAX_ID)):
        return None
    value = int(pk)
    return value if value <= MAX_ID else None


@extend_schema_view(
    list=extend_schema(
        summary="List the tasks you can see",
        responses={
            200: TaskOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 429),
        },
        parameters=CONDITIONAL_GET,
    ),
    create=extend_schema(
        summary="Create a task (you own it)",
        description="A retry with the same `Idempotency-Key` and body returns the first "
        "response; the same key with another body is a 409. Keys live 24 hours.",
        request=TaskInputSerializer,
        responses={201: TaskOutputSerializer, **errors(AUTHENTICATED_WRITE, WITH_BODY, 409, 429)},
        parameters=[
            IDEMPOTENCY_KEY,
            etag_header(201, TASK_ETAG_IS),
            OpenApiParameter(
                "Idempotent-Replayed",
                str,
                OpenApiParameter.HEADER,
                response=[201],
                enum=["true"],
                description="Present when this is the first response to this key, replayed",
            ),
        ],
    ),
    retrieve=extend_schema(
        summary="Get a task",
        description="`ETag` names its version; `If-None-Match` with it answers 304, "
        "an `If-Match` without it 412.",
        responses={
            200: TaskOutputSerializer,
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404, 412, 429),
        },
        parameters=[IF_NONE_MATCH, IF_MATCH, TASK_ETAG],
    ),
    update=extend_schema(
        summary="Replace a task",
        description="Admins and members of the task's project change it (viewers get "
        "403), site managers and admins any. With `If-Match`, a version that moved on "
        "answers 412; a task of an archived project answers 409.",
        request=TaskInputSerializer,
        responses={
            200: TaskOutputSerializer,
            **errors(TASK_WRITE, WITH_BODY),
            **conflicts(ARCHIVED),
        },
        parameters=[IF_MATCH, IF_NONE_MATCH_WRITE, TASK_ETAG],
    ),
    partial_update=extend_schema(
        summary="Change some fields of a task",
        description="Only the fields sent change; `null` clears a nullable field; "
        "`project` moves the task (write access in both projects). With `If-Match`, a "
        "version that moved on answers 412; a task of an archived project answers 409.",
        request=TaskInputSerializer,
        responses={
            200: TaskOutputSerializer,
            **errors(TASK_WRITE, WITH_BODY),
            **conflicts(ARCHIVED),
        },
        parameters=[IF_MATCH, IF_NONE_MATCH_WRITE, TASK_ETAG],
    ),
    destroy=extend_schema(
        summary="Delete a task",
        description="The project's admins delete any of its tasks, its members those they "
        "created, site admins any (others get 403). With `If-Match`, a version that moved "
        "on answers 412; a task of an archived project answers 409.",
        responses={204: None, **errors(TASK_WRITE), **conflicts(ARCHIVED)},
        parameters=[IF_MATCH, IF_NONE_MATCH_WRITE],
    ),
)
@extend_schema(tags=["tasks"])
class TaskViewSet(
    StrictQueryParametersMixin, FiltersOnListsOnly, RateLimitHeadersMixin, viewsets.ModelViewSet
):
    serializer_class = TaskOutputSerializer
    permission_classes = [IsAuthenticated, TaskAccess]
    throttle_classes = [ReadWriteThrottle]
    filterset_class = TaskFilter
    schema = TaskSchema()
    # ASCII digits only: \d matches every script's digits, which int() reads, so the
    # ARABIC-INDIC DIGIT ONE (U+0661) answered task 1 at a second URL.
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Task]:
        user = request_user(self.request)
        # A write's permission needs the caller's role and the project; a read does not.
        if self.detail and self.request.method not in SAFE_METHODS:
            return selectors.task_writable_view_of(user)
        return selectors.task_visible_to(user)

    def get_object(self) -> Task:
        if self.request.method in SAFE_METHODS or "pk" not in self.kwargs:
            return cast(Task, super().get_object())
        # The queryset's task for a write, without building the queryset.
        task_id = _task_id(self.kwargs["pk"])
        task = (
            None
            if task_id is None
            else selectors.writable_task_of(request_user(self.request), task_id)
        )
        if task is None:
            raise Http404
        self.check_object_permissions(self.request, task)
        return task

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        # The browsable API builds its create and update forms from this, asking
        # with the form's method.
        if self.request is not None and self.request.method in ("POST", "PUT", "PATCH"):
            return TaskInputSerializer
        return TaskOutputSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not self._list_is_cached(request):
            return Response(self._page())
        data = caching.cached(
            request_user(request),
            "list",
            request.build_absolute_uri(),
            self._page,
            request=request,
            counted=_filter_params(request),
        )
        return Response(data)

    def _page(self) -> dict[str, Any]:
        """A page of the list, its rows read as named tuples of the columns the output
        needs: a model per row cost a fifth of an uncached page, and building and
        compiling the query of a list without filters a quarter (bench/RESULTS.md,
        issue 26)."""
        user, filters = request_user(self.request), _filter_params(self.request)
        # Built once, if at all: the list without filters needs it only to recount.
        tasks = functools.cache(lambda: self.filter_queryset(self.get_queryset()))
        rows: Any
        if self.request.query_params.keys() <= _PAGE_ONLY:
            rows = listing.UnfilteredRows(user)
        else:
            rows = tasks().values_list(*STATE_COLUMNS, named=True)
        paginator = self.paginator
        if isinstance(paginator, LimitOffsetPagination):
            paginator.count_with = lambda _: caching.count_by_project(user, filters, tasks)
        page = self.paginate_queryset(rows) or []
        response = self.get_paginated_response([task_state(row) for row in page])
        return cast(dict[str, Any], response.data)

    @staticmethod
    def _list_is_cached(request: Request) -> bool:
        # Which tasks are overdue changes with the clock, not only with writes.
        return "overdue" not in request.query_params

    def read_ahead_keys(self, request: Request, user_id: int) -> Sequence[str]:
        """What the action reads from the cache first, for authentication to read in
        its round trip (taskmanager.readahead.ReadsAhead)."""
        if self.action == "list" and self._list_is_cached(request):
            return caching.read_ahead_keys(user_id, "list", request.build_absolute_uri())
        if self.action == "statistics" and self._list_is_cached(request):
            return caching.read_ahead_keys(user_id, "statistics", request.build_absolute_uri())
        if self.action == "retrieve":
            return caching.read_ahead_keys(user_id, "detail", self.kwargs["pk"])
        return []

    def read_ahead_scripts(self, request: Request, user_id: int) -> Sequence[ScriptRead]:
        """The reader's projects, with the cache's counters (readahead.ScriptsAhead)."""
        if self.action == "list" and self._list_is_cached(request):
            return [caching.projects_read(user_id, _filter_params(request))]
        if self.action == "statistics" and self._list_is_cached(request):
            return [caching.projects_read(user_id)]
        if self.action == "retrieve":
            return [caching.projects_read(user_id)]
        return []

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Cached per reader under the same counters as their lists (tasks.caching): a
        # write of the task bumps its project's, a membership change the reader's.
        state = caching.cached(
            request_user(request),
            "detail",
            self.kwargs["pk"],
            lambda: task_state(self.get_object()),
            request=request,
        )
        version = ObjectVersion(state["id"], state["version"])
        # A failed If-Match on a GET would otherwise be ConditionalGetMiddleware's
        # empty 412, outside the error shape.
        check_preconditions(request, version)
        return Response(state, headers={"ETag": etag(version)})

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = TaskInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if payload.validated_data.get("project") is not None:
            check_project_write(request_user(request), payload.validated_data["project"])
        key = request.headers.get("Idempotency-Key")
        if key is None:
            task = services.task_create(actor=request_user(request), **payload.validated_data)
            return Response(
                TaskOutputSerializer(task).data,
                status=status.HTTP_201_CREATED,
                headers={"ETag": etag(task)},
            )
        if len(key) > 255 or not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
            raise ValidationError(
                {"Idempotency-Key": ["Give 1 to 255 printable ASCII characters."]}
            )
        body, replayed = services.task_create_idempotent(
            actor=request_user(request),
            key=key,
            body=request.data,
            fields=payload.validated_data,
            represent=lambda task: dict(TaskOutputSerializer(task).data),
        )
        headers = {"ETag": etag_of(body["id"], body["version"])}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status.HTTP_201_CREATED, headers=headers)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        # Before the body (RFC 9110, 13.2.1): a stale If-Match is a 412 even when the
        # body echoes the older version's read-only fields.
        if_match = check_preconditions(request, task)
        # With the task: its read-only fields may be echoed back unchanged.
        payload = TaskInputSerializer(task, data=request.data, partial=kwargs.get("partial", False))
        payload.is_valid(raise_exception=True)
        moved_to = payload.validated_data.get("project")
        if moved_to is not None and moved_to.pk != task.project_id:
            check_project_write(request_user(request), moved_to)
        task = services.task_update(
            actor=request_user(request),
            task_id=task.pk,
            data=payload.validated_data,
            if_match=if_match,
            read=task,
        )
        return Response(TaskOutputSerializer(task).data, headers={"ETag": etag(task)})

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        services.task_delete(
            actor=request_user(request),
            task_id=task.pk,
            if_match=check_preconditions(request, task),
            read=task,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Count the tasks you can see",
        description="By status and priority, overdue, and the completion rate.",
        responses={
            200: StatisticsOutputSerializer,
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 429),
        },
        parameters=CONDITIONAL_GET,
    )
    @action(detail=False, methods=["get"])
    def statistics(self, request: Request) -> Response:
        def compute() -> dict[str, Any]:
            now = timezone.now()
            groups: Iterable[Sequence[Any]]
            if request.query_params.keys() <= _FORMAT_ONLY:
                groups = listing.unfiltered_statistics(request_user(request), now)
            else:
                tasks = self.filter_queryset(self.get_queryset())
                groups = selectors.statistics_query(tasks, now)
            figures, next_due = selectors.statistics_of(groups)
            return {"figures": figures, "expires": next_due}

        def until_next_due(value: dict[str, Any]) -> int:
            next_due = value["expires"]
            if next_due is None:
                return caching.ENTRY_TTL
            return int((next_due - timezone.now()).total_seconds())

        if not self._list_is_cached(request):
            return Response(compute()["figures"])
        value = caching.cached(
            request_user(request),
            "statistics",
            request.build_absolute_uri(),
            compute,
            until_next_due,
            request,
        )
        return Response(value["figures"])

    @extend_schema(
        operation_id="v1_tasks_history",
        summary="A task's history",
        description="Its events, oldest first: who changed which fields, from what to what. "
        "A deleted task's history stays readable by the members of its project.",
        responses={
            200: TaskEventOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404, 429),
        },
        parameters=CONDITIONAL_GET,
    )
    @action(detail=True, methods=["get"], url_path="events", filterset_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        task_id: int | None
        try:
            task_id = self.get_object().pk
        except Http404:
            # Events outlive their task: the members of its project still read its
            # history.
            task_id = _task_id(pk)
            if task_id is None or not selectors.task_deleted_seen_by(
                request_user(request), task_id
            ):
                raise
        return self._event_page(selectors.task_history(task_id))

    @extend_schema(
        operation_id="v1_tasks_events_feed",
        summary="The events you missed",
        description="Events of the tasks you can see with an id above `after`, oldest "
        "first: what a WebSocket client fetches after a disconnect.",
        parameters=[EventFeedQuerySerializer, *CONDITIONAL_GET],
        responses={
            200: TaskEventOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 429),
        },
    )
    @action(detail=False, methods=["get"], url_path="events", filterset_class=None)
    def feed(self, request: Request) -> Response:
        query = EventFeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = selectors.task_events_visible_to(request_user(request))
        return self._event_page(events.filter(id__gt=query.validated_data["after"]))

    @extend_schema(
        operation_id="v1_tasks_move",
        summary="Move a task in its project's order",
        description="Just before or just after another task of the same project: only "
        "this task's `position` changes (a new version). Admins and members of the "
        "project move tasks.",
        request=MoveInputSerializer,
        responses={
            200: TaskOutputSerializer,
            **errors(TASK_WRITE, WITH_BODY),
            **conflicts(ARCHIVED, "`conflict`: the task moved to another project meanwhile"),
        },
        parameters=[IF_MATCH, TASK_ETAG],
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def move(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        if_match = check_preconditions(request, task)
        payload = MoveInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        task = services.task_move(
            actor=request_user(request),
            task_id=task.pk,
            if_match=if_match,
            **payload.validated_data,
        )
        return Response(TaskOutputSerializer(task).data, headers={"ETag": etag(task)})

    @extend_schema(
        methods=["GET"],
        operation_id="v1_tasks_relations_list",
        summary="A task's relations, both ways",
        description="Those it has to other tasks (`outgoing`) and those others have to it "
        "(`incoming`), oldest first; relations to tasks you cannot see are left out.",
        parameters=CONDITIONAL_GET,
        responses={
            200: RelationOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404, 429),
        },
    )
    @extend_schema(
        methods=["POST"],
        operation_id="v1_tasks_relations_create",
        summary="Relate a task to another",
        description="Needs write access to this task and sight of the other. A task "
        "related to itself is a 400; the same kind of relation between the two tasks, "
        "either way, a 409 `relation_exists`. While a task that blocks another is not "
        "completed, the other is `blocked`.",
        request=RelationInputSerializer,
        responses={
            201: RelationOutputSerializer,
            **errors(TASK_WRITE, WITH_BODY),
            **conflicts(
                "`relation_exists`: the two tasks are related this way already (either way)",
                ARCHIVED,
            ),
        },
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def relations(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        user = request_user(request)
        if request.method == "GET":
            page = self.paginate_queryset(selectors.relations_of(user, task.pk))
            return self.get_paginated_response(
                [relation_seen_from(relation, task.pk) for relation in page or []]
            )
        payload = RelationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        other_id = payload.validated_data["task"]
        if other_id != task.pk and not selectors.task_visible_to(user).filter(pk=other_id).exists():
            raise ValidationError({"task": [f"No task {other_id} that you can see."]})
        relation = services.relation_create(
            actor=user, task=task, kind=payload.validated_data["kind"], other_id=other_id
        )
        return Response(relation_seen_from(relation, task.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="v1_tasks_relations_destroy",
        summary="Remove a relation",
        description="From either of its tasks; needs write access to the task of the URL.",
        parameters=[
            OpenApiParameter(
                "relation_id",
                PATH_ID,
                OpenApiParameter.PATH,
                description="The relation, one of this task's (either direction)",
            )
        ],
        responses={204: None, **errors(TASK_WRITE), **conflicts(ARCHIVED)},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"relations/(?P<relation_id>[0-9]+)",
        url_name="relation",
        filterset_class=None,
    )
    def relation(
        self, request: Request, pk: str | None = None, relation_id: str | None = None
    ) -> Response:
        task = self.get_object()
        user = request_user(request)
        relation = _task_id(relation_id)
        # One the listing shows: a relation to a task the caller cannot see is as missing.
        if (
            relation is None
            or not selectors.relations_of(user, task.pk).filter(pk=relation).exists()
        ):
            raise Http404
        services.relation_delete(actor=user, task=task, relation_id=relation)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="v1_tasks_bulk_update",
        summary="Change many tasks at once",
        description="Up to 100 tasks, all or none: when one fails, nothing changes and "
        "the 400 names each failing id under `fields`. One event per changed task. Counts "
        "as one write, and each task against the per-minute bulk cap (429).",
        request=BulkUpdateInputSerializer,
        responses={200: TaskOutputSerializer(many=True), **errors(AUTHENTICATED_WRITE, WITH_BODY)},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk",
        filterset_class=None,
        pagination_class=None,
    )
    def bulk(self, request: Request) -> Response:
        payload = BulkUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        user = request_user(request)
        self._count_bulk(request, user, data["ids"])
        changes = dict(data.get("set", {}))
        if changes.get("project") is not None:
            try:
                check_project_write(user, changes["project"])
            except ValidationError as exc:
                # Where the body has it, as a project that does not exist is named.
                raise ValidationError({"set": exc.detail}) from exc
        tasks = services.tasks_bulk_update(
            actor=user,
            ids=data["ids"],
            visible=selectors.task_writable_view_of(user),
            may_change=lambda task: may_change(user, task),
            data=changes,
            add_labels=data["add_labels"],
            remove_labels=data["remove_labels"],
        )
        return Response(TaskOutputSerializer(tasks, many=True).data)

    @extend_schema(
        operation_id="v1_tasks_bulk_delete",
        summary="Delete many tasks at once",
        description="Up to 100 tasks, all or none, as `bulk`. One event per task.",
        request=BulkDeleteInputSerializer,
        responses={204: None, **errors(AUTHENTICATED_WRITE, WITH_BODY)},
    )
    @action(detail=False, methods=["post"], url_path="bulk-delete", filterset_class=None)
    def bulk_delete(self, request: Request) -> Response:
        payload = BulkDeleteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = request_user(request)
        ids = payload.validated_data["ids"]
        self._count_bulk(request, user, ids)
        services.tasks_bulk_delete(
            actor=user,
            ids=ids,
            visible=selectors.task_writable_view_of(user),
            may_delete=lambda task: may_delete(user, task),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _count_bulk(self, request: Request, user: User, ids: builtins.list[int]) -> None:
        throttle = BulkTasksThrottle()
        if not throttle.count(request, user_ident(user.pk), amount=len(set(ids)), report=False):
            self.throttled(request, throttle.wait())

    def query_parameter_errors(self, request: Request) -> dict[str, Any]:
        """The feed's `after`, checked with unknown parameters (taskmanager.query_parameters)."""
        if self.action != "feed":
            return {}
        query = EventFeedQuerySerializer(data=request.query_params)
        return {} if query.is_valid() else dict(query.errors)

    def _event_page(self, events: QuerySet[Event]) -> Response:
        page = self.paginate_queryset(events)
        return self.get_paginated_response(TaskEventOutputSerializer(page, many=True).data)


@login_required
@require_safe
def live_page(request: HttpRequest) -> HttpResponse:
    """Your tasks, changing as they change (tasks/static/tasks/live.js); with
    `?project=<id>`, those of one of your projects (another is 404).

    The last visible event id is read before the tasks: a change committed in
    between is then both in the list and replayed by the page's resume, which
    applies task versions idempotently.
    """
    user = cast(User, request.user)  # login_required
    visible = project_visible_to(user)
    chosen = request.GET.get("project", "")
    project_id: int | None = None
    if chosen:
        # ASCII digits within the column's range, of a project the user sees.
        if not (chosen.isascii() and chosen.isdigit()) or len(chosen) > len(str(MAX_ID)):
            raise Http404
        project_id = int(chosen)
        if project_id > MAX_ID or not visible.filter(pk=project_id).exists():
            raise Http404
    last_event = selectors.task_events_visible_to(user).aggregate(last=Max("id"))["last"] or 0
    tasks = selectors.task_visible_to(user)
    if project_id is not None:
        tasks = tasks.filter(project_id=project_id)
    shown = list(tasks[:LIVE_PAGE_TASKS])
    # The picker: the user's projects (their personal one first, then by name), and
    # for those who see every project the ones of the tasks shown (and the one
    # picked), not all of them. With the user's role in each: viewers get no control.
    own_first = Case(When(personal_owner_id=user.pk, then=Value(0)), default=Value(1))
    listed = Q(pk__in=project_ids_of(user)) | Q(pk__in={task.project_id for task in shown})
    if project_id is not None:
        listed |= Q(pk=project_id)
    projects = [
        {
            "id": row["id"],
            "name": row["name"],
            "role": row["my_role"],
            "archived": row["is_archived"],
        }
        for row in visible.filter(listed)
        .order_by(own_first, Lower("name"), "id")
        .values(*LIVE_PAGE_PROJECT_FIELDS)
    ]
    # What the rows name by id: the labels and the members' usernames of the projects
    # the page shows, one query each whatever the number of tasks. Owners and
    # assignees who left a project are named too.
    shown_projects = [project_id] if project_id is not None else [p["id"] for p in projects]
    labels = label_visible_to(user).filter(project_id__in=shown_projects)
    named = {task.owner_id for task in shown} | {
        task.assignee_id for task in shown if task.assignee_id is not None
    }
    members = Membership.objects.filter(project_id__in=shown_projects).values("user_id")
    users = User.objects.filter(Q(pk__in=members) | Q(pk__in=named)).values_list("id", "username")
    context = {
        "initial": {
            "user": user.pk,
            "last_event": last_event,
            "tasks": TaskOutputSerializer(shown, many=True).data,
            "projects": projects,
            "project": project_id,
            "limit": LIVE_PAGE_TASKS,
            "socket_url": settings.WEBSOCKET_PUBLIC_URL,
            # JSON object keys are strings: the script turns them back into ids.
            "labels": {
                label["id"]: {"name": label["name"], "color": label["color"]}
                for label in labels.values("id", "name", "color")
            },
            "users": dict(users),
            "statuses": Task.Status.choices,
            "write_roles": list(WRITE_ROLES),
            "change_any": user.has_perm("tasks.change_any_task"),
            "tasks_url": reverse("v1:tasks:task-list"),
        }
    }
    return render(request, "tasks/live.html", context)
