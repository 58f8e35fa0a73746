"""The API's documents: the OpenAPI schema (drf-spectacular) and the AsyncAPI
document of the WebSocket (docs/asyncapi.yaml)."""

import functools
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from taskmanager.query_parameters import StrictQueryParametersMixin


class JSONErrorsMixin:
    """Errors in the JSON error shape, whatever format the view serves (a YAML
    document's 405 or unknown `?format=` is still a JSON error)."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if getattr(response, "exception", False):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class SchemaView(JSONErrorsMixin, StrictQueryParametersMixin, SpectacularAPIView):
    # Outside the document it serves; `lang` picks the language of its texts.
    undocumented_query_parameters = frozenset({"lang"})


class AsyncApiYamlRenderer(OpenApiYamlRenderer):
    media_type = "application/yaml"


@functools.cache
def _asyncapi_document() -> dict[str, Any]:
    path = Path(settings.BASE_DIR) / "docs" / "asyncapi.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


class AsyncApiView(JSONErrorsMixin, StrictQueryParametersMixin, APIView):
    """docs/asyncapi.yaml: the messages of /ws/tasks/, as YAML or (?format=json) JSON."""

    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]
    renderer_classes = [AsyncApiYamlRenderer, JSONRenderer]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(_asyncapi_document())
