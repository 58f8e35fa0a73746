"""The WebSocket's messages, as the AsyncAPI document docs/asyncapi.yaml describes
them."""

import functools
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from taskmanager.docs import JSONErrorsMixin
from taskmanager.query_parameters import StrictQueryParametersMixin


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
