"""Request plumbing that must run before anything reads a body."""

from collections.abc import Callable

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse

from taskmanager.exceptions import error_body


class LengthRequiredMiddleware:
    """A chunked body without `Content-Length` under WSGI is a 411.

    gunicorn decodes a chunked body, but Django's WSGI request reads as many bytes as
    `Content-Length` says: none. An upload sent that way was "no file", a JSON body an
    empty one. (daphne hands Django the whole body, so ASGI requests pass.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            isinstance(request, WSGIRequest)
            and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
            and not request.META.get("CONTENT_LENGTH")
        ):
            return JsonResponse(
                error_body(
                    "length_required",
                    "Send the request body with a Content-Length header, not chunked.",
                ),
                status=411,
            )
        return self.get_response(request)
