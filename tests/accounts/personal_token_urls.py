"""The project's URLs and a few probe views, for the scope tests of apps that have no
endpoint yet (webhooks, exports, sync) or of rules no view of the project uses."""

from typing import Any

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class Probe(APIView):
    """Answers every method with 200 and who asked."""

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.pk})

    def post(self, request: Request) -> Response:
        return Response({"user": request.user.pk})

    def delete(self, request: Request) -> Response:
        return Response({"user": request.user.pk})


def probe_of(module: str, **attributes: Any) -> type[Probe]:
    """A probe that the scope rules take for a view of `module` (its app's rule)."""
    return type(f"Probe_{module.replace('.', '_')}", (Probe,), {"__module__": module, **attributes})


WebhooksProbe = probe_of("webhooks.views")
ExportsProbe = probe_of("exports.views")
SyncProbe = probe_of("sync.views")
# An app no rule names: closed to tokens until it says otherwise.
UndeclaredProbe = probe_of("activity.views")
# A view's own rule wins over its app's.
DeclaredProbe = probe_of(
    "tasks.views", token_scopes={"read": "files:read", "POST": ("projects:write", "files:write")}
)

urlpatterns = [
    path("probe/webhooks/", WebhooksProbe.as_view()),
    path("probe/exports/", ExportsProbe.as_view()),
    path("probe/sync/", SyncProbe.as_view()),
    path("probe/undeclared/", UndeclaredProbe.as_view()),
    path("probe/declared/", DeclaredProbe.as_view()),
    path("", include("taskmanager.urls")),
]
