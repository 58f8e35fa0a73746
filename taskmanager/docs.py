"""The API's OpenAPI document (drf-spectacular), and errors in the JSON shape for
every document view."""

from typing import Any

from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

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
