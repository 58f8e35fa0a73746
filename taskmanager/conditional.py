"""Conditional GETs for every view (settings.MIDDLEWARE)."""

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware import http

from taskmanager.exceptions import PreconditionFailedError, error_response


class ConditionalGetMiddleware(http.ConditionalGetMiddleware):
    """Django's: a body-hash ETag on every GET without one (task lists, say) and 304
    for a matching If-None-Match. With two changes: only a success gets an ETag (an
    error is not a representation to cache or to send back), and a failed If-Match,
    which Django answers with an empty text/html 412, is in the error shape."""

    def needs_etag(self, response: HttpResponseBase) -> bool:
        return 200 <= response.status_code < 300 and super().needs_etag(response)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        answer = super().process_response(request, response)
        if answer is not response and answer.status_code == PreconditionFailedError.status_code:
            failed = PreconditionFailedError()
            return error_response(failed.status_code, failed.code, failed.message)
        return answer
