import builtins
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.http.request import split_domain_port
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_user
from exports import selectors, services
from exports.feed import calendar_document
from exports.serializers import CalendarFeedOutputSerializer
from exports.table import csv_chunks
from exports.throttles import CalendarFeedThrottle
from taskmanager.exceptions import NotFoundError
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.renderers import ORJSONRenderer
from taskmanager.schema import AUTHENTICATED, AUTHENTICATED_WRITE, AutoSchema, errors
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.selectors import task_visible_to

# What the feed's access log and error records show instead of its path (the token
# is a credential; monitoring.logs redacts the access line the same way).
REDACTED_FEED_PATH = "/calendar/<redacted>.ics"
NO_STORE = "private, no-store"


class ErrorsInJsonNegotiation(BaseContentNegotiation):
    """These views answer CSV or iCalendar themselves, whatever the client accepts
    (`Accept: text/calendar` would otherwise be a 406); their renderer writes only
    the error bodies, in JSON. `?format=` is not theirs to honour."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type

    def select_parser(self, request: Request, parsers: Iterable[Any]) -> Any:
        return next(iter(parsers), None)


class CalendarFeedCreateView(StrictQueryParametersMixin, RateLimitHeadersMixin, APIView):
    throttle_classes = [ReadWriteThrottle]
    # No personal token, whatever its scopes: the feed's address is a credential that
    # outlives the token, as tokens are made only from a login (accounts.scopes).
    token_scopes = {"read": None, "write": None}

    @extend_schema(
        operation_id="v1_users_me_calendar_feed_create",
        summary="Get a new address for your calendar feed",
        description="Returns the secret address of an iCalendar feed of the tasks you "
        "see that have a due date (each an event at its due date), for a calendar "
        "application to subscribe to; it needs no credentials. Every call returns a "
        "new address, and the previous one stops working at once.",
        request=None,
        responses={200: CalendarFeedOutputSerializer, **errors(AUTHENTICATED_WRITE)},
        tags=["users"],
    )
    def post(self, request: Request) -> Response:
        token = services.calendar_feed_rotate(user=request_user(request))
        path = reverse("exports_pages:calendar-feed", kwargs={"token": token})
        body = CalendarFeedOutputSerializer({"url": request.build_absolute_uri(path)}).data
        # The address is a credential: no cache may keep it.
        return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


class CalendarFeedView(RateLimitHeadersMixin, APIView):
    """`GET /calendar/<token>.ics`: outside the API and its schema. Calendar
    applications send no credentials: the token in the address is the credential."""

    schema = None
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [CalendarFeedThrottle]
    renderer_classes = [ORJSONRenderer]
    content_negotiation_class = ErrorsInJsonNegotiation

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Every later record of this request (an unexpected error's, a database
        # outage's, the access line) names the path: not the token.
        request._request.path = REDACTED_FEED_PATH
        super().initial(request, *args, **kwargs)

    def get(self, request: Request, token: str) -> HttpResponse:
        user = selectors.calendar_feed_owner(token)
        if user is None:
            raise NotFoundError()
        now = timezone.now()
        document = calendar_document(
            selectors.calendar_feed_tasks(user, now=now),
            name=f"Taskmanager: {user.username}",
            host=split_domain_port(request.get_host())[0],
        )
        response = HttpResponse(document, content_type="text/calendar; charset=utf-8")
        # ConditionalGetMiddleware adds the body's ETag: an unchanged feed answers 304.
        # Private: the document is one person's.
        response["Cache-Control"] = "private, no-cache"
        response["Content-Disposition"] = 'inline; filename="tasks.ics"'
        response["X-Robots-Tag"] = "noindex"
        response["Referrer-Policy"] = "no-referrer"
        return response


class ExportSchema(AutoSchema):
    """The export takes the task list's filters: its parameters are the list's."""

    def get_filter_backends(self) -> builtins.list[Any]:
        return builtins.list(getattr(self.view, "filter_backends", []))


@extend_schema(tags=["tasks"])
class TaskExportView(StrictQueryParametersMixin, RateLimitHeadersMixin, GenericAPIView[Task]):
    throttle_classes = [ReadWriteThrottle]
    filterset_class = TaskFilter
    pagination_class = None
    renderer_classes = [ORJSONRenderer]
    content_negotiation_class = ErrorsInJsonNegotiation
    schema = ExportSchema()

    def get_queryset(self) -> QuerySet[Task]:
        # The task list's (tasks.views.TaskViewSet): the same tasks, newest first.
        return task_visible_to(request_user(self.request))

    @extend_schema(
        operation_id="v1_tasks_export_csv",
        summary="Export the tasks you can see as CSV",
        description="Takes the task list's filters and ordering and answers every "
        "matching task, not a page: one header row, then a row per task, streamed. "
        "Columns: id, title, description, status, priority, due_date, completed_at, "
        "project_id, project (its name), owner and assignee (usernames), labels "
        '(names, sorted, separated by "; "), parent_id, position, created_at, '
        "updated_at, version; dates and times in UTC (ISO 8601). A text cell that "
        "starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, "
        "so that spreadsheets do not run it as a formula.",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The tasks, as an attachment."
            ),
            **errors(AUTHENTICATED, 400, 429),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        # Filtered here, before the answer starts: a bad filter is still a 400.
        tasks = selectors.tasks_for_export(self.filter_queryset(self.get_queryset()))
        # A HEAD reads no rows: servers drop the body, but would compute it first.
        chunks = csv_chunks(tasks) if request.method == "GET" else iter(())
        if isinstance(request._request, ASGIRequest):
            response = StreamingHttpResponse(_in_sync_thread(chunks))
        else:
            response = StreamingHttpResponse(chunks)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Type"] = "text/csv; charset=utf-8"
        response["Content-Disposition"] = f'attachment; filename="tasks-{stamp}.csv"'
        response["Cache-Control"] = NO_STORE
        response["X-Content-Type-Options"] = "nosniff"
        return response


async def _in_sync_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks under ASGI (`make run`'s server), read one at a time in the thread
    that holds the request's database connection: Django would otherwise read a
    synchronous iterator to its end into memory before sending any of it."""

    def read() -> bytes | None:
        return next(chunks, None)

    while (chunk := await sync_to_async(read, thread_sensitive=True)()) is not None:
        yield chunk
