from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.models import User
from accounts.permissions import request_user
from projects.models import Membership, Project, ProjectRole
from projects.selectors import project_visible_to
from taskmanager.exceptions import NotFoundError
from taskmanager.filters import MAX_ID
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    PATH_ID,
    WITH_BODY,
    errors,
)
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle
from webhooks import services
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.serializers import (
    DeliveryListQuerySerializer,
    DeliveryOutputSerializer,
    WebhookCreateInputSerializer,
    WebhookOutputSerializer,
    WebhookSecretOutputSerializer,
    WebhookUpdateInputSerializer,
)

MANAGE_ANY = "webhooks.manage_any_webhook"
NOT_ADMIN = "Only the project's admins may manage its webhooks."
NOT_SITE_ADMIN = "Only site admins may register a webhook without a project."


def webhooks_of(user: User) -> QuerySet[Webhook]:
    """The webhooks the user manages: those of the projects they administer; every one
    with `webhooks.manage_any_webhook` (site admins)."""
    if user.has_perm(MANAGE_ANY):
        return Webhook.objects.all()
    administered = Membership.objects.filter(user_id=user.pk, role=ProjectRole.ADMIN).values(
        "project_id"
    )
    return Webhook.objects.filter(project_id__in=administered)


def _id(value: Any) -> int:
    if value is None or len(str(value)) > len(str(MAX_ID)) or int(value) > MAX_ID:
        raise NotFoundError()
    return int(value)


@extend_schema_view(
    list=extend_schema(
        summary="Your webhooks",
        description="Those of the projects you administer (site admins: every one), "
        "oldest first. Secrets are never shown here.",
        responses={200: WebhookOutputSerializer(many=True), **errors(AUTHENTICATED, 400)},
    ),
    create=extend_schema(
        summary="Register a webhook",
        description="For a project you administer, or, as a site admin, without a "
        "project (every event). The answer holds the signing secret, once. It receives "
        "the events recorded from now on.",
        request=WebhookCreateInputSerializer,
        responses={201: WebhookSecretOutputSerializer, **errors(AUTHENTICATED_WRITE, *WITH_BODY)},
    ),
    retrieve=extend_schema(
        summary="A webhook",
        responses={200: WebhookOutputSerializer, **errors(AUTHENTICATED, 400, 404)},
    ),
    partial_update=extend_schema(
        summary="Change a webhook",
        request=WebhookUpdateInputSerializer,
        responses={200: WebhookOutputSerializer, **errors(AUTHENTICATED_WRITE, *WITH_BODY, 404)},
    ),
    destroy=extend_schema(
        summary="Delete a webhook",
        description="With its delivery log; nothing more is sent to it.",
        responses={204: None, **errors(AUTHENTICATED_WRITE, 400, 404)},
    ),
)
@extend_schema(tags=["webhooks"])
class WebhookViewSet(
    StrictQueryParametersMixin,
    RateLimitHeadersMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadWriteThrottle]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Webhook]:
        return webhooks_of(request_user(self.request))

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return WebhookOutputSerializer

    def get_object(self) -> Webhook:
        webhook = self.get_queryset().filter(pk=_id(self.kwargs.get("pk"))).first()
        if webhook is None:
            raise NotFoundError()
        return webhook

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request_user(request)
        payload = WebhookCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        project_id = data["project"]
        if project_id is None:
            if not user.has_perm(MANAGE_ANY):
                raise PermissionDenied(NOT_SITE_ADMIN)
        else:
            project = project_visible_to(user).filter(pk=project_id).first()
            if project is None:
                raise ValidationError({"project": ["No project with this id that you can see."]})
            if not self._administers(user, project):
                raise PermissionDenied(NOT_ADMIN)
        webhook = services.webhook_create(
            actor=user,
            project_id=project_id,
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            is_active=data["is_active"],
        )
        return Response(WebhookSecretOutputSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        webhook = self.get_object()
        payload = WebhookUpdateInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        webhook = services.webhook_update(webhook=webhook, data=dict(payload.validated_data))
        return Response(WebhookOutputSerializer(webhook).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.webhook_delete(webhook=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="v1_webhooks_rotate_secret",
        summary="Rotate a webhook's secret",
        description="A new secret, in the answer, once. The previous one keeps signing "
        "for 24 hours (both signatures in `webhook-signature`), while receivers move to "
        "the new one.",
        request=None,
        responses={200: WebhookSecretOutputSerializer, **errors(AUTHENTICATED_WRITE, 400, 404)},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", url_name="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        webhook = services.webhook_rotate_secret(webhook=self.get_object())
        return Response(WebhookSecretOutputSerializer(webhook).data)

    @extend_schema(
        operation_id="v1_webhooks_test",
        summary="Send a webhook.test message",
        description="A `webhook.test` message, signed, delivered, retried and logged as "
        "events are (a webhook that is off gets it once turned on).",
        request=None,
        responses={202: DeliveryOutputSerializer, **errors(AUTHENTICATED_WRITE, 400, 404)},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        delivery = services.webhook_test(webhook=self.get_object(), actor=request_user(request))
        return Response(DeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _administers(user: User, project: Project) -> bool:
        return user.has_perm(MANAGE_ANY) or getattr(project, "my_role", None) == ProjectRole.ADMIN


@extend_schema_view(
    list=extend_schema(
        summary="A webhook's delivery log",
        description="Newest first, each with its attempts; kept 30 days after it ends.",
        parameters=[DeliveryListQuerySerializer],
        responses={200: DeliveryOutputSerializer(many=True), **errors(AUTHENTICATED, 400, 404)},
    ),
)
@extend_schema(tags=["webhooks"], parameters=[OpenApiParameter("webhook_id", PATH_ID, "path")])
class WebhookDeliveryViewSet(
    StrictQueryParametersMixin,
    RateLimitHeadersMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = DeliveryOutputSerializer
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadWriteThrottle]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[Delivery]:
        if getattr(self, "swagger_fake_view", False):  # the schema's generation
            return Delivery.objects.none()
        webhook = webhooks_of(request_user(self.request)).filter(
            pk=_id(self.kwargs.get("webhook_id"))
        )
        if not webhook.exists():
            raise NotFoundError()
        deliveries = Delivery.objects.filter(webhook_id=self.kwargs["webhook_id"])
        if self.action != "list":
            return deliveries
        query = DeliveryListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        if "status" in query.validated_data:
            deliveries = deliveries.filter(status=query.validated_data["status"])
        attempts = Prefetch("attempt_log", queryset=Attempt.objects.order_by("number"))
        return deliveries.prefetch_related(attempts).order_by("-id")

    def query_parameter_errors(self, request: Request) -> dict[str, Any]:
        if self.action != "list":
            return {}
        query = DeliveryListQuerySerializer(data=request.query_params)
        return {} if query.is_valid() else dict(query.errors)

    @extend_schema(
        operation_id="v1_webhooks_deliveries_retry",
        summary="Send a delivery again",
        description="Now, with the same `webhook-id` and body, and the whole retry "
        "schedule ahead of it. One on its way already is left as it is.",
        request=None,
        parameters=[OpenApiParameter("id", PATH_ID, "path")],
        responses={202: DeliveryOutputSerializer, **errors(AUTHENTICATED_WRITE, 400, 404)},
    )
    @action(detail=True, methods=["post"])
    def retry(
        self, request: Request, webhook_id: str | None = None, pk: str | None = None
    ) -> Response:
        delivery = self.get_queryset().filter(pk=_id(pk)).first()
        if delivery is None:
            raise NotFoundError()
        delivery = services.delivery_retry(delivery=delivery)
        return Response(DeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
