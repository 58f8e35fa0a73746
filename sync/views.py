from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_user
from sync import cursors, pages
from sync.serializers import SyncPageOutputSerializer
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    AUTHENTICATED,
    CONDITIONAL_GET,
    NOT_MODIFIED,
    ErrorSerializer,
    errors,
)
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle

CURSOR = OpenApiParameter(
    "cursor",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": cursors.MAX_LENGTH,
        "pattern": cursors.PATTERN,
    },
    OpenApiParameter.QUERY,
    required=False,
    description="The `cursor` of the page before, as it was given; leave it out to "
    "start with a snapshot of everything you can see.",
)
INVALID_CURSOR = OpenApiResponse(
    ErrorSerializer,
    description="`invalid_cursor`: the cursor was not given by this server, was changed, "
    "or was given to another user (named under `fields.cursor`); `validation_error`: an "
    "unknown query parameter, an empty or repeated `cursor`.",
)
CURSOR_EXPIRED = OpenApiResponse(
    ErrorSerializer,
    description="`cursor_expired`: changes after the cursor were pruned (events are kept "
    "for `EVENT_RETENTION_DAYS`, 30 by default), or your site role changed what you may "
    "read. Drop your copy and start again without a cursor.",
)


class SyncView(StrictQueryParametersMixin, RateLimitHeadersMixin, APIView):
    """Incremental sync for clients that keep a copy of what you can see (docs/sync.md).

    Without `cursor`: a snapshot of every project, label, task and comment you can
    see, page after page, as `upsert`s. Then, with the `cursor` of the last page: what
    changed since, each object once as it is now: `upsert`, or `delete` when it is gone
    or out of your sight (a project you left or that was deleted: drop its labels,
    tasks and comments with it; a task: its comments). Joining a project brings it
    with everything in it. At most 500 changes a page; a page never splits one change
    of the server (a bulk change of many tasks comes whole, alone in a bigger page if
    need be). Follow `has_more` to the end, keep the last `cursor`, and come back with
    it later."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadWriteThrottle]

    @extend_schema(
        operation_id="v1_sync",
        summary="What changed since your cursor (or a snapshot of everything)",
        parameters=[CURSOR, *CONDITIONAL_GET],
        responses={
            200: SyncPageOutputSerializer,
            **NOT_MODIFIED,
            **errors(AUTHENTICATED),
            400: INVALID_CURSOR,
            410: CURSOR_EXPIRED,
        },
        tags=["sync"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        text = request.query_params.get("cursor")
        page = pages.sync_page(request_user(request), text)
        return Response(
            {
                "changes": page.changes,
                "cursor": cursors.encode(page.cursor),
                "has_more": page.has_more,
            }
        )
