"""The OpenAPI schema's conventions.

- The error responses: the one error shape of the API and the statuses each
  operation can answer with it (checked by `make fuzz`).

      @extend_schema(responses={200: TaskOutputSerializer, **errors(401, 404, 429)})

- Conditional GETs (`taskmanager.conditional`): `CONDITIONAL_GET` and `NOT_MODIFIED`
  for the operations whose successful GET carries an `ETag`.

- `AutoSchema`: an operation's description is its view's own documentation.
"""

import inspect

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class AutoSchema(openapi.AutoSchema):
    """Describes an operation with the docstring of its action, or else of its view,
    written on the view itself (or an `extend_schema(description=...)`).

    drf-spectacular's default walks the view's bases up to DRF's own classes and
    takes the first docstring it meets: a mixin's notes for its readers (how rate
    limit headers are added, why filters skip `get_object`) became the description
    of every task and file operation in Swagger UI and ReDoc."""

    def get_description(self) -> str:
        view_class = type(self.view)
        action = getattr(self.view, "action", None) or self.method.lower()
        own = view_class.__dict__.get(action)  # the action as written on this view
        doc = getattr(own, "__doc__", None) or view_class.__dict__.get("__doc__")
        return inspect.cleandoc(doc) if doc else ""


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: `validation_error`, ...")
    message = serializers.CharField(help_text="For a person; may change.")
    fields = serializers.DictField(
        help_text="Per input field (a body field, a query parameter or a header), what is "
        "wrong with it; empty unless the input was invalid."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_DESCRIPTIONS = {
    400: "Invalid input: a body field, query parameter or header (named in `fields`), "
    "or a body that cannot be parsed.",
    401: "No credentials, or the token, its session or its user is no longer valid "
    "(`WWW-Authenticate: Bearer`).",
    403: "Not allowed for your role, or a session-cookie request without its CSRF token.",
    404: "No such resource, or one you cannot see.",
    409: "Conflicts with the current state (an Idempotency-Key in use or used with another body).",
    412: "`If-Match` does not name the current version (`ETag`).",
    413: "The request body is too large.",
    415: "The body's (or the uploaded file's) type is not accepted.",
    429: "Throttled: `Retry-After` gives the seconds to wait.",
    503: "The file storage failed; nothing was half-written, retrying may work.",
}

# The statuses most operations share. Every authenticated view is throttled
# (REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES or its own).
AUTHENTICATED = (401, 429)
# Unsafe methods: a session-cookie request without its CSRF token is 403.
AUTHENTICATED_WRITE = (*AUTHENTICATED, 403)
WITH_BODY = (400, 413, 415)


def errors(*statuses: int | tuple[int, ...]) -> dict[int, OpenApiResponse]:
    """Error responses for `extend_schema(responses=...)`, in the error shape."""
    codes: set[int] = set()
    for status in statuses:
        codes.update(status if isinstance(status, tuple) else (status,))
    return {
        code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code])
        for code in sorted(codes)
    }


def etag_header(status: int, description: str) -> OpenApiParameter:
    """The `ETag` response header of `status`."""
    return OpenApiParameter(
        "ETag", str, OpenApiParameter.HEADER, response=[status], description=description
    )


IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="The `ETag` of the copy you hold: while it is current, 304 without a body",
)
# ConditionalGetMiddleware's: a hash of the body on a successful GET, and a 304 for an
# If-None-Match that names it.
CONDITIONAL_GET = [IF_NONE_MATCH, etag_header(200, "A hash of the body, for `If-None-Match`")]
NOT_MODIFIED = {
    304: OpenApiResponse(description="Not modified: the `If-None-Match` ETag is current.")
}
