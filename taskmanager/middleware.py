"""Request plumbing: below Django, for what Django cannot see, and around its
responses."""

import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
READ_SIZE = 64 * 1024


class ChunkedBodies:
    """WSGI: a chunked request body (no `Content-Length`) is read whole for Django.

    gunicorn decodes a chunked body, but Django's WSGI request reads as many bytes as
    `Content-Length` says: none, so an upload sent that way was "no file" and a JSON
    body an empty one. Here it is read (to memory, then a temporary file) and given a
    length. At most HTTP_MAX_BODY_BYTES + 1 bytes are read: past that, the length
    Django sees is over its own limits, which answer 413 in the error shape as for
    any large body. Behind nginx this does not arise (nginx sends a length)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get(
            "CONTENT_LENGTH"
        ):
            # Django reads it after this returns; it goes with the request's environ.
            body = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE
            )
            stream, size, limit = environ["wsgi.input"], 0, settings.HTTP_MAX_BODY_BYTES + 1
            while size < limit and (chunk := stream.read(min(READ_SIZE, limit - size))):
                body.write(chunk)
                size += len(chunk)
            body.seek(0)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = body, str(size)
        return self.app(environ, start_response)


class ReleaseResponseCycles:
    """Django middleware, outermost: a rendered DRF response leaves the reference
    cycles DRF made for rendering it (its context naming the view and itself, the view
    naming the response). In them, the response's data (a page of 500 changes is some
    3,000 objects) outlived the request until a full garbage collection found it;
    out of them, it goes when the server drops the response. The data itself stays
    (tests read `response.data`)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        context = getattr(response, "renderer_context", None)
        if isinstance(context, dict):
            context.pop("response", None)
            view = context.pop("view", None)
            if getattr(view, "response", None) is response:
                del view.response
        return response


class MessagesWhenUsed(MessageMiddleware):
    """Django's messages middleware, the request's storage made when first used.

    Only the admin and the browsable API's login use messages, yet Django made every
    request's storage (a cookie signer and a session reader) up front: about 40 µs of
    every API request (bench/RESULTS.md, "Round trips without redis-py's pipeline").
    A storage never used has nothing to save, so the response is left alone."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:  # type: ignore[attr-defined]
            return response
        return super().process_response(request, response)
