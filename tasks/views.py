import re
from collections.abc import Sequence
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Max, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.models import User
from accounts.permissions import request_user
from activity.models import Event
from taskmanager.exceptions import PreconditionFailedError
from taskmanager.filters import MAX_ID, FiltersOnListsOnly
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    CONDITIONAL_GET,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    WITH_BODY,
    errors,
    etag_header,
)
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle
from tasks import caching, selectors, services
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.permissions import TaskAccess
from tasks.serializers import (
    EventFeedQuerySerializer,
    StatisticsOutputSerializer,
    TaskEventOutputSerializer,
    TaskInputSerializer,
    TaskOutputSerializer,
)

# The live page starts with the most recent tasks; changes to older ones join it.
LIVE_PAGE_TASKS = 100

# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc being
# visible ASCII but DQUOTE, or obs-text (headers reach Django decoded as latin-1).
ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
# `*`, or a list of tags (section 5.6.1: commas between, empty elements and blanks
# allowed). Also the headers' schema pattern (ECMA-262 reads it the same).
PRECONDITION_PATTERN = (
    rf"^(?:[ \t]*\*[ \t]*|[ \t,]*{ENTITY_TAG}(?:[ \t]*,[ \t,]*{ENTITY_TAG})*[ \t,]*)$"
)
_PRECONDITION = re.compile(PRECONDITION_PATTERN)
_ENTITY_TAG = re.compile(ENTITY_TAG)
MALFORMED_PRECONDITION = 'Give * or a list of quoted entity tags, e.g. "12-3" (the task\'s ETag).'

IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": PRECONDITION_PATTERN},
    OpenApiParameter.HEADER,
    description="The task's current `ETag` (or `*`); any other (a weak `W/` one too) answers "
    "412, a value that is not `*` nor a list of quoted entity tags 400",
)
IF_NONE_MATCH_WRITE = OpenApiParameter(
    "If-None-Match",
    {"type": "string", "pattern": PRECONDITION_PATTERN},
    OpenApiParameter.HEADER,
    description="`*` or the task's current `ETag` answers 412 instead of a change; a value "
    "that is not `*` nor a list of quoted entity tags 400",
)
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
# 404, an `If-Match` of another version (or an `If-None-Match` of this one) 412, a
# malformed one 400.
TASK_WRITE = (*AUTHENTICATED_WRITE, 400, 404, 412, 429)


def etag(task: Task) -> str:
    return etag_of(task.pk, task.version)


def etag_of(pk: int, version: int) -> str:
    return f'"{pk}-{version}"'


def check_preconditions(request: Request, task: Task) -> int | None:
    """Evaluates the request's preconditions on the task as RFC 9110 (section 13.2.2)
    orders them; one that fails is a 412 in the error shape.

    Returns the version `If-Match` names, for the service to check again under the
    row lock (`if_match`); None without it or with `*`.
    """
    errors = precondition_errors(request)
    if errors:
        raise ValidationError(errors)
    current = etag(task)
    if_match = _entity_tags(request, "If-Match")
    # Strong comparison (section 13.1.1): our ETags are strong, so a weak one never
    # names this exact representation.
    if if_match is not None and not _names(if_match, current):
        raise PreconditionFailedError()
    # On a GET, If-None-Match is a cache check (304), which ConditionalGetMiddleware
    # answers; on a write, `*` or the current ETag (weak comparison, section 13.1.2)
    # mean "only if it does not exist or has changed".
    if_none_match = _entity_tags(request, "If-None-Match")
    if request.method not in SAFE_METHODS and if_none_match is not None:
        weakly = [tag.removeprefix("W/") for tag in if_none_match]
        if _names(weakly, current):
            raise PreconditionFailedError()
    if if_match is None or if_match == ["*"]:
        return None
    return task.version


def precondition_errors(request: Request) -> dict[str, list[str]]:
    """The precondition headers of the request that are not `*` nor a list of quoted
    entity tags, by name: a 400, not the 412 of a tag that names another version.
    `If-None-Match` on a GET only asks for a 304, and is left alone."""
    names = ["If-Match"] if request.method in SAFE_METHODS else ["If-Match", "If-None-Match"]
    return {
        name: [MALFORMED_PRECONDITION]
        for name in names
        if request.headers.get(name) is not None and _entity_tags(request, name) is None
    }


def _entity_tags(request: Request, name: str) -> list[str] | None:
    value = request.headers.get(name)
    return None if value is None else entity_tags(value)


def _names(tags: list[str], current: str) -> bool:
    return tags == ["*"] or current in tags


def entity_tags(value: str) -> list[str] | None:
    """The tags of an `If-Match` or `If-None-Match` value (RFC 9110 section 13.1):
    `["*"]`, or the quoted tags with their `W/`; None when it is neither. Django's
    `parse_etags` drops what it cannot read: `1-3` named no tag, and failed as one
    of another version would."""
    if not _PRECONDITION.fullmatch(value):
        return None
    if value.strip(" \t") == "*":
        return ["*"]
    return _ENTITY_TAG.findall(value)


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
        description="Owners and assignees change a task, managers and admins any. With "
        "`If-Match`, a version that moved on answers 412.",
        request=TaskInputSerializer,
        responses={200: TaskOutputSerializer, **errors(TASK_WRITE, WITH_BODY)},
        parameters=[IF_MATCH, IF_NONE_MATCH_WRITE, TASK_ETAG],
    ),
    partial_update=extend_schema(
        summary="Change some fields of a task",
        description="Only the fields sent change; `null` clears a nullable field. "
        "With `If-Match`, a version that moved on answers 412.",
        request=TaskInputSerializer,
        responses={200: TaskOutputSerializer, **errors(TASK_WRITE, WITH_BODY)},
        parameters=[IF_MATCH, IF_NONE_MATCH_WRITE, TASK_ETAG],
    ),
    destroy=extend_schema(
        summary="Delete a task",
        description="Owners delete their tasks, admins any (others get 403). With "
        "`If-Match`, a version that moved on answers 412.",
        responses={204: None, **errors(TASK_WRITE)},
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
    # ASCII digits only: \d matches every script's digits, which int() reads, so the
    # ARABIC-INDIC DIGIT ONE (U+0661) answered task 1 at a second URL.
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.task_visible_to(request_user(self.request))

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        # The browsable API builds its create and update forms from this, asking
        # with the form's method.
        if self.request is not None and self.request.method in ("POST", "PUT", "PATCH"):
            return TaskInputSerializer
        return TaskOutputSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not self._list_is_cached(request):
            return super().list(request, *args, **kwargs)
        data = caching.cached(
            request_user(request),
            "list",
            request.build_absolute_uri(),
            lambda: super(TaskViewSet, self).list(request, *args, **kwargs).data,
            request=request,
        )
        return Response(data)

    @staticmethod
    def _list_is_cached(request: Request) -> bool:
        # Which tasks are overdue changes with the clock, not only with writes.
        return "overdue" not in request.query_params

    def read_ahead_keys(self, request: Request, user_id: int) -> Sequence[str]:
        """What the action reads from the cache first, for authentication to read in
        its round trip (taskmanager.readahead.ReadsAhead)."""
        if self.action == "list" and self._list_is_cached(request):
            return caching.read_ahead_keys(user_id, "list", request.build_absolute_uri())
        if self.action == "statistics":
            return caching.read_ahead_keys(user_id, "statistics", "")
        return []

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        # A failed If-Match on a GET would otherwise be ConditionalGetMiddleware's
        # empty 412, outside the error shape.
        check_preconditions(request, task)
        return Response(TaskOutputSerializer(task).data, headers={"ETag": etag(task)})

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = TaskInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
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
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Count the tasks you can see",
        description="By status and priority, overdue, and the completion rate.",
        responses={200: StatisticsOutputSerializer, **NOT_MODIFIED, **errors(AUTHENTICATED, 429)},
        parameters=CONDITIONAL_GET,
    )
    @action(detail=False, methods=["get"], filterset_class=None)
    def statistics(self, request: Request) -> Response:
        def compute() -> dict[str, Any]:
            figures, next_due = selectors.task_statistics(self.get_queryset())
            return {"figures": figures, "expires": next_due}

        def until_next_due(value: dict[str, Any]) -> int:
            next_due = value["expires"]
            if next_due is None:
                return caching.ENTRY_TTL
            return int((next_due - timezone.now()).total_seconds())

        value = caching.cached(
            request_user(request), "statistics", "", compute, until_next_due, request
        )
        return Response(value["figures"])

    @extend_schema(
        operation_id="v1_tasks_history",
        summary="A task's history",
        description="Its events, oldest first: who changed which fields, from what to what. "
        "A deleted task's history stays readable by whoever could see the task when it was "
        "deleted.",
        responses={
            200: TaskEventOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404, 429),
        },
        parameters=CONDITIONAL_GET,
    )
    @action(detail=True, methods=["get"], url_path="events", filterset_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        try:
            task_id = self.get_object().pk
        except Http404:
            # Events outlive their task: whoever could see it when it was deleted
            # still reads its history.
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
    """Your tasks, changing as they change (tasks/static/tasks/live.js).

    The last visible event id is read before the tasks: a change committed in
    between is then both in the list and replayed by the page's resume, which
    applies task versions idempotently.
    """
    user = cast(User, request.user)  # login_required
    last_event = selectors.task_events_visible_to(user).aggregate(last=Max("id"))["last"] or 0
    tasks = selectors.task_visible_to(user)[:LIVE_PAGE_TASKS]
    context = {
        "initial": {
            "user": user.pk,
            "last_event": last_event,
            "tasks": TaskOutputSerializer(tasks, many=True).data,
            "limit": LIVE_PAGE_TASKS,
            "socket_url": settings.WEBSOCKET_PUBLIC_URL,
        }
    }
    return render(request, "tasks/live.html", context)
