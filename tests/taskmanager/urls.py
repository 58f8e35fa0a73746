"""Views that raise each kind of error, mounted beside the real URLs for the tests."""

from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from taskmanager import exceptions
from taskmanager.urls import handler400, handler403, handler404, handler500  # noqa: F401
from taskmanager.urls import urlpatterns as project_urlpatterns


class _Payload(serializers.Serializer):
    title = serializers.CharField(max_length=5)
    count = serializers.IntegerField()


class EchoView(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        payload = _Payload(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(payload.validated_data)


class JSONOnlyView(EchoView):
    parser_classes = [JSONParser]


class MultipartView(EchoView):
    parser_classes = [MultiPartParser]


class PrivateView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class _Never(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return False


class ForbiddenView(APIView):
    permission_classes = [IsAuthenticated, _Never]

    def get(self, request: Request) -> Response:  # pragma: no cover - never reached
        return Response({"ok": True})


class _OncePerMinute(AnonRateThrottle):
    rate = "1/min"


class ThrottledView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [_OncePerMinute]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class DomainErrorView(APIView):
    permission_classes = [AllowAny]
    errors = {
        "conflict": exceptions.ConflictError,
        "precondition": exceptions.PreconditionFailedError,
        "too-large": exceptions.PayloadTooLargeError,
        "media": exceptions.UnsupportedMediaTypeError,
        "missing": exceptions.NotFoundError,
        "unavailable": exceptions.ServiceUnavailableError,
    }

    def get(self, request: Request, kind: str) -> Response:
        raise self.errors[kind]()


class CrashView(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError("secret internal detail /srv/app/settings.py")


def plain_crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret internal detail")


def plain_write(request: HttpRequest) -> HttpResponse:
    """A Django view (not DRF's): CsrfViewMiddleware checks its writes."""
    return HttpResponse(request.body[:0] or b"written")


def plain_suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("secret internal detail")


DATABASE_ERRORS = {
    "refused": OperationalError('connection to server at "10.0.0.5", port 5432 failed'),
    "lost": InterfaceError("connection already closed"),
}


class DatabaseDownView(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request, kind: str) -> Response:
        raise DATABASE_ERRORS[kind]


def plain_database_down(request: HttpRequest, kind: str) -> HttpResponse:
    raise DATABASE_ERRORS[kind]


urlpatterns = [
    path("t/echo/", EchoView.as_view()),
    path("t/json-only/", JSONOnlyView.as_view()),
    path("t/multipart/", MultipartView.as_view()),
    path("t/private/", PrivateView.as_view()),
    path("t/forbidden/", ForbiddenView.as_view()),
    path("t/throttled/", ThrottledView.as_view()),
    path("t/domain/<str:kind>/", DomainErrorView.as_view()),
    path("t/crash/", CrashView.as_view()),
    path("t/plain-crash/", plain_crash),
    path("t/plain-write/", plain_write),
    path("api/t/plain-write/", plain_write),
    path("t/plain-suspicious/", plain_suspicious),
    path("t/database-down/<str:kind>/", DatabaseDownView.as_view()),
    path("t/plain-database-down/<str:kind>/", plain_database_down),
    *project_urlpatterns,
]
