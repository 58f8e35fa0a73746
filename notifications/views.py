from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import request_user
from notifications import selectors, services
from notifications.models import Notification
from notifications.serializers import (
    NotificationListQuerySerializer,
    NotificationOutputSerializer,
    ReadAllOutputSerializer,
)
from taskmanager.exceptions import NotFoundError
from taskmanager.filters import MAX_ID
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    CONDITIONAL_GET,
    NOT_MODIFIED,
    errors,
)
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle


@extend_schema_view(
    list=extend_schema(
        summary="Your notifications",
        description="Newest first; those of tasks you can no longer see are left out.",
        parameters=[NotificationListQuerySerializer, *CONDITIONAL_GET],
        responses={
            200: NotificationOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400),
        },
    ),
)
@extend_schema(tags=["notifications"])
class NotificationViewSet(
    StrictQueryParametersMixin,
    RateLimitHeadersMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = NotificationOutputSerializer
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadWriteThrottle]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[Notification]:
        notifications = selectors.notifications_of(request_user(self.request))
        if self.action != "list":
            return notifications
        query = NotificationListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        unread = query.validated_data.get("unread")
        if unread is None:
            return notifications
        return notifications.filter(read_at__isnull=unread == "true")

    def query_parameter_errors(self, request: Request) -> dict[str, Any]:
        """`unread`, checked with unknown parameters (taskmanager.query_parameters)."""
        if self.action != "list":
            return {}
        query = NotificationListQuerySerializer(data=request.query_params)
        return {} if query.is_valid() else dict(query.errors)

    def get_object(self) -> Notification:
        pk = self.kwargs.get("pk")
        if pk is None or len(pk) > len(str(MAX_ID)) or int(pk) > MAX_ID:
            raise NotFoundError()
        notification = selectors.notifications_of(request_user(self.request)).filter(pk=pk).first()
        if notification is None:
            raise NotFoundError()
        return notification

    @extend_schema(
        operation_id="v1_notifications_read",
        summary="Mark a notification read",
        description="Its `read_at` is set the first time; reading it again changes "
        "nothing. Another user's notification is a 404.",
        request=None,
        responses={200: NotificationOutputSerializer, **errors(AUTHENTICATED_WRITE, 400, 404)},
    )
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = self.get_object()
        services.notification_read(user=request_user(request), notification_id=notification.pk)
        return Response(NotificationOutputSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="v1_notifications_read_all",
        summary="Mark all your notifications read",
        description="Those you are shown (`GET /notifications/`) that are unread.",
        request=None,
        responses={200: ReadAllOutputSerializer, **errors(AUTHENTICATED_WRITE, 400)},
    )
    @action(detail=False, methods=["post"], url_path="read-all", url_name="read-all")
    def read_all(self, request: Request) -> Response:
        updated = services.notifications_read_all(user=request_user(request))
        return Response({"updated": updated})
