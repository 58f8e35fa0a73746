"""The two entry points: the landing page (`/`, for people) and the API root
(`/api/v1/`, for clients)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import ANY_TOKEN_READ, CONDITIONAL_GET, NOT_MODIFIED, errors
from taskmanager.serializers import ApiRootOutputSerializer

# Each field of the API root and the URL name of the endpoint it points at.
API_ROOT = {
    "tasks": "v1:tasks:task-list",
    "task_events": "v1:tasks:task-feed",
    "task_statistics": "v1:tasks:task-statistics",
    "files": "v1:files:file-list",
    "projects": "v1:projects:project-list",
    "notifications": "v1:notifications:notification-list",
    "webhooks": "v1:webhooks:webhook-list",
    "sync": "v1:sync:sync",
    "register": "v1:accounts:register",
    "login": "v1:accounts:login",
    "token": "v1:accounts:token",
    "refresh": "v1:accounts:refresh",
    "logout": "v1:accounts:logout",
    "logout_all": "v1:accounts:logout-all",
    "sessions": "v1:accounts:session-list",
    "tokens": "v1:accounts:personal-token-list",
    "me": "v1:accounts:me",
    "users": "v1:accounts:user-list",
}


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """What this service is, and links to its pages, documents and API."""
    return render(request, "home.html")


class ApiRootView(StrictQueryParametersMixin, APIView):
    """The API's top-level endpoints as absolute URLs: where a client starts. Open to
    anyone, throttled as every read."""

    name = "API root"  # the browsable API's title
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="v1_root",
        summary="The API's endpoints",
        parameters=CONDITIONAL_GET,
        # Public: any personal token reads it too (accounts.scopes), so never a 403.
        responses={200: ApiRootOutputSerializer, **NOT_MODIFIED, **errors(ANY_TOKEN_READ, 400)},
        tags=["api"],
    )
    def get(self, request: Request) -> Response:
        urls = {field: reverse(name, request=request) for field, name in API_ROOT.items()}
        return Response(ApiRootOutputSerializer(urls).data)
