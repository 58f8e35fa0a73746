"""The one error shape of the API, and the domain errors services raise.

Every error answers ``{"error": {"code", "message", "fields"}}``. Services raise a
``DomainError`` subclass; DRF, Django and unexpected exceptions are mapped here too,
so no request ever answers a stack trace.
"""

import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import (
    DisallowedHost,
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from rest_framework import exceptions, status
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

from taskmanager.renderers import ORJSONRenderer

logger = logging.getLogger(__name__)


# When a client may retry after a dependency failed (the database, the file storage).
DEPENDENCY_RETRY_AFTER = "5"

# The messages of the errors Django and DRF raise in their own words, rewritten for
# the people who read them: what is wrong, then what to do. The codes stay DRF's.
VALIDATION_MESSAGE = "The request is not valid: see fields for what to correct."
BAD_REQUEST_MESSAGE = "The request is malformed and could not be read."
DISALLOWED_HOST_MESSAGE = "The Host header names a host this server does not serve."
NOT_AUTHENTICATED_MESSAGE = (
    "Authentication is required: send an access token from /api/v1/auth/login/"
    ' as "Authorization: Bearer <token>".'
)
PERMISSION_DENIED_MESSAGE = "You do not have permission to perform this action."
NOT_FOUND_MESSAGE = "Not found: nothing exists at this address, or you may not see it."
PAYLOAD_TOO_LARGE_MESSAGE = "The request body is too large."
SERVER_ERROR_MESSAGE = "An unexpected error occurred; try again later."


class DomainError(Exception):
    """Base of the errors services raise; the handler turns one into a response."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "invalid"
    message = "The request could not be processed."
    # Seconds for a `Retry-After` header, for errors that go away on their own.
    retry_after: str | None = None

    def __init__(self, message: str | None = None, *, fields: dict[str, Any] | None = None):
        self.message = message or self.message
        self.fields = fields or {}
        super().__init__(self.message)

    def summary(self) -> str:
        """One line for a person (the admin's messages): the field messages, if any."""
        details = [
            str(message)
            for messages in self.fields.values()
            for message in (messages if isinstance(messages, list) else [messages])
        ]
        return " ".join(details) or self.message


class DomainValidationError(DomainError):
    code = "validation_error"
    message = VALIDATION_MESSAGE


class PermissionDeniedError(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"
    message = PERMISSION_DENIED_MESSAGE


class NotFoundError(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
    message = NOT_FOUND_MESSAGE


class ConflictError(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"
    message = "The request conflicts with the current state."


class GoneError(DomainError):
    """The resource's row exists but what it stands for is lost for good (a file's
    bytes missing or changed in storage): retrying will not help."""

    status_code = status.HTTP_410_GONE
    code = "gone"
    message = "The resource is no longer available."


class PreconditionFailedError(DomainError):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    code = "precondition_failed"
    message = "The resource has changed since it was read."


class PayloadTooLargeError(DomainError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"
    message = PAYLOAD_TOO_LARGE_MESSAGE


class ServiceUnavailableError(DomainError):
    """A dependency (file storage) failed; nothing was half-written, retrying may work."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "service_unavailable"
    message = "A storage service is unavailable; try again later."
    retry_after = DEPENDENCY_RETRY_AFTER


class UnsupportedMediaTypeError(DomainError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"
    message = "Unsupported media type."


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


_renderer = ORJSONRenderer()


def error_json(code: str, message: str, fields: dict[str, Any] | None = None) -> bytes:
    """The error body in the bytes DRF's renderer gives the same body: an error made
    outside DRF (Django's handlers, middleware, the socket process) reads the same."""
    return _renderer.render(error_body(code, message, fields))


def error_response(
    status_code: int,
    code: str,
    message: str,
    fields: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """An error answered outside DRF, with the Content-Type DRF gives its own."""
    return HttpResponse(
        error_json(code, message, fields),
        status=status_code,
        content_type=_renderer.media_type,
        headers=headers,
    )


def _from_api_exception(
    exc: exceptions.APIException, context: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    detail = exc.detail
    default_code = str(getattr(exc, "default_code", "error"))
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return "validation_error", VALIDATION_MESSAGE, fields
    if isinstance(detail, dict):
        # SimpleJWT puts {"detail", "code", "messages"} in its token errors.
        message = str(detail.get("detail", exc.default_detail))
        code = str(detail.get("code", default_code))
    else:
        message = str(detail)
        code = str(getattr(detail, "code", None) or default_code)
    if isinstance(exc, exceptions.AuthenticationFailed):
        # The session ended, the token expired or is not valid: one code for clients
        # to handle (log in again, or refresh first); the message tells which.
        code = "authentication_failed"
    return code, _for_people(exc, message, context), {}


def _for_people(exc: exceptions.APIException, message: str, context: dict[str, Any]) -> str:
    """DRF's wording of its own errors, as a sentence that says what to do."""
    request = context.get("request")
    if isinstance(exc, exceptions.NotFound):
        # "No Task matches the given query." would name models; one text for every 404.
        return NOT_FOUND_MESSAGE
    if isinstance(exc, exceptions.NotAuthenticated):
        return NOT_AUTHENTICATED_MESSAGE
    if isinstance(exc, exceptions.PermissionDenied) and message.startswith(_DRF_CSRF_PREFIX):
        return csrf_message(message.removeprefix(_DRF_CSRF_PREFIX))
    if isinstance(exc, exceptions.MethodNotAllowed):
        return method_not_allowed_message(getattr(request, "method", None))
    if isinstance(exc, exceptions.NotAcceptable):
        return _not_acceptable_message(context.get("view"))
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return _unsupported_media_type_message(request)
    if isinstance(exc, exceptions.Throttled):
        # DRF sets `wait` in Throttled.__init__; its stub does not declare it.
        return _throttled_message(exc.wait)  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.ParseError):
        return _parse_error_message(message)
    return message


_DRF_CSRF_PREFIX = "CSRF Failed: "


def method_not_allowed_message(method: str | None) -> str:
    return (
        f"The method {method or 'used'} is not allowed here;"
        " the Allow header lists the methods that are."
    )


def csrf_message(reason: str) -> str:
    reason = reason.strip().rstrip(".")
    return (
        f"The CSRF check failed ({reason}): with the session cookie, send the csrftoken"
        " cookie's value in an X-CSRFToken header, or use a Bearer token instead."
    )


def _unsupported_media_type_message(request: HttpRequest | None) -> str:
    given = (getattr(request, "content_type", "") or "").partition(";")[0].strip()
    accepted = ", ".join(
        dict.fromkeys(parser.media_type for parser in getattr(request, "parsers", None) or [])
    )
    what = f'The Content-Type "{given}" is' if given else "A body without a Content-Type is"
    if not accepted:
        return f"{what} not accepted here."
    return f"{what} not accepted here; send one of: {accepted}."


def _not_acceptable_message(view: Any) -> str:
    renderers = view.get_renderers() if hasattr(view, "get_renderers") else []
    offered = ", ".join(dict.fromkeys(renderer.media_type for renderer in renderers))
    return "The Accept header allows none of the types this address answers with" + (
        f": {offered}." if offered else "."
    )


def retry_after_seconds(wait: float) -> int:
    return max(1, int(wait + 0.999))


def _throttled_message(wait: float | None) -> str:
    if wait is None:
        return "Too many requests: try again later."
    seconds = retry_after_seconds(wait)
    return f"Too many requests: try again in {seconds} second{'s' if seconds != 1 else ''}."


# json.JSONDecodeError's text: "Expecting value: line 1 column 10 (char 9)".
_JSON_POSITION = re.compile(
    r"^(?P<what>.+): line (?P<line>\d+) column (?P<column>\d+) \(char \d+\)$"
)
_PARSE_PREFIXES = {
    "JSON parse error - ": "The request body is not valid JSON: {reason}.",
    "Multipart form parse error - ": "The multipart body could not be read: {reason}.",
}


def _parse_error_message(detail: str) -> str:
    for prefix, template in _PARSE_PREFIXES.items():
        if detail.startswith(prefix):
            reason = detail.removeprefix(prefix).strip().rstrip(".")
            position = _JSON_POSITION.match(reason)
            if position:
                reason = (
                    f"{position['what']} at line {position['line']}, column {position['column']}"
                )
            elif "codec can't decode" in reason:
                reason = "it is not UTF-8 text"
            return template.format(reason=_lower_first(reason))
    if detail == str(exceptions.ParseError.default_detail):
        return "The request body could not be read."
    return detail


def _lower_first(text: str) -> str:
    # "Expecting value" goes after a colon; "UTF-8" and other acronyms stay.
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception of an API view becomes the error shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if _user_vanished(exc, context):
        exc = _session_ended(context)

    if isinstance(exc, DomainError):
        body = error_body(exc.code, exc.message, exc.fields)
        status_code = exc.status_code
        if exc.retry_after is not None:
            headers["Retry-After"] = exc.retry_after
    elif isinstance(exc, exceptions.APIException):
        code, message, fields = _from_api_exception(exc, context)
        body = error_body(code, message, fields)
        status_code = exc.status_code
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(retry_after_seconds(wait))
    elif isinstance(exc, SuspiciousOperation):
        status_code, code, message = _suspicious(exc)
        body = error_body(code, message)
    elif isinstance(exc, IntegrityError) and _foreign_key_violation(exc):
        # A row the write refers to was deleted meanwhile (a race, not a bug of the
        # request): the client may reload and try again.
        logger.warning("write refers to a deleted row: %s", exc)
        body = error_body(ConflictError.code, REFERENCE_GONE)
        status_code = status.HTTP_409_CONFLICT
    elif isinstance(exc, ObjectDoesNotExist):
        # A row found a moment earlier was deleted before the service locked it.
        logger.warning("row deleted meanwhile: %s", exc)
        body = error_body(NotFoundError.code, NotFoundError.message)
        status_code = status.HTTP_404_NOT_FOUND
    elif _database_unavailable(exc):
        request = context.get("request")
        _log_database_unavailable(exc, request)
        body = error_body(*DATABASE_UNAVAILABLE)
        status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        headers["Retry-After"] = DEPENDENCY_RETRY_AFTER
    else:
        request = context.get("request")
        logger.exception(
            "Unhandled exception in %s %s",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
        )
        body = error_body("server_error", SERVER_ERROR_MESSAGE)
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR

    # Whatever a failed request wrote inside ATOMIC_REQUESTS or an atomic block
    # around the view must not be committed.
    set_rollback()
    _render_as_json(context.get("request"))
    return Response(body, status=status_code, headers=headers)


def _render_as_json(request: Any) -> None:
    """An error is JSON whatever the view renders (Swagger UI's and ReDoc's HTML pages,
    a YAML document) or none was agreed (a 406): only the browsable API shows it in
    its page."""
    renderer = getattr(request, "accepted_renderer", None)
    if request is not None and not isinstance(renderer, JSONRenderer | BrowsableAPIRenderer):
        request.accepted_renderer = _renderer
        request.accepted_media_type = _renderer.media_type


REFERENCE_GONE = "Something this request refers to was deleted meanwhile; reload and retry."


@dataclass(frozen=True)
class VanishedUsers:
    """How to tell that a request's user row is gone, and what to say then: accounts
    sets it (accounts.auth_cache.user_vanished) in its AppConfig.ready."""

    check: Callable[[int], bool]
    message: str


_vanished_users: list[VanishedUsers] = []


def on_vanished_users(rule: VanishedUsers) -> None:
    _vanished_users[:] = [rule]


def _user_vanished(exc: Exception, context: dict[str, Any]) -> bool:
    """The request failed because its user's row is gone (deleted by raw SQL, where
    no code could end their sessions): a write hit their foreign key, or a lookup of
    their row found nothing. That is an ended session, not a server error."""
    user = getattr(context.get("request"), "_user", None)  # set once authenticated
    user_id = getattr(user, "pk", None)
    if not isinstance(user_id, int):
        return False
    if not isinstance(exc, ObjectDoesNotExist) and not _caused_by(exc, IntegrityError):
        return False
    return any(rule.check(user_id) for rule in _vanished_users)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # a chain is short; a cycle must not hang the request
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _session_ended(context: dict[str, Any]) -> exceptions.AuthenticationFailed:
    message = _vanished_users[0].message if _vanished_users else "Log in again."
    exc = exceptions.AuthenticationFailed(message, code="session_ended")
    view, request = context.get("view"), context.get("request")
    if view is not None and request is not None:
        exc.auth_header = view.get_authenticate_header(request)  # type: ignore[attr-defined]
    return exc


def _foreign_key_violation(exc: IntegrityError) -> bool:
    # PostgreSQL's SQLSTATE foreign_key_violation; SQLite says it in words.
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate == "23503" or "FOREIGN KEY constraint failed" in str(exc)


# The database down or restarting (connections refused, the pool timing out, a
# connection lost mid-query): nothing was committed, and retrying soon may work.
DATABASE_UNAVAILABLE = ("service_unavailable", "The database is unavailable; try again later.")


def _database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def _log_database_unavailable(exc: BaseException, request: HttpRequest | None) -> None:
    # A warning without the traceback: an outage would otherwise flood the log.
    logger.warning(
        "database unavailable in %s %s: %s: %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        type(exc).__name__,
        exc,
    )


def _suspicious(exc: SuspiciousOperation) -> tuple[int, str, str]:
    """A request Django refused to read (a body over its limit, a foreign Host)."""
    if isinstance(exc, RequestDataTooBig):
        return (
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "payload_too_large",
            PAYLOAD_TOO_LARGE_MESSAGE,
        )
    if isinstance(exc, DisallowedHost):
        return status.HTTP_400_BAD_REQUEST, "bad_request", DISALLOWED_HOST_MESSAGE
    return status.HTTP_400_BAD_REQUEST, "bad_request", BAD_REQUEST_MESSAGE


# Views for errors raised outside DRF (unknown URLs, Django's own 400/403/500, CSRF).
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, SuspiciousOperation):
        return error_response(*_suspicious(exception))
    return error_response(400, "bad_request", BAD_REQUEST_MESSAGE)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(403, "permission_denied", PERMISSION_DENIED_MESSAGE)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(404, "not_found", NOT_FOUND_MESSAGE)


# Paths whose clients read JSON; elsewhere (the admin, the login forms) Django's page.
API_PATH_PREFIXES = ("/api/", "/monitoring/", "/ws/")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: a Django view (not DRF's, which checks CSRF itself)
    refused a session-cookie write without the token."""
    if request.path.startswith(API_PATH_PREFIXES):
        return error_response(403, "permission_denied", csrf_message(reason or "no reason given"))
    return django_csrf_failure(request, reason)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while it handles the exception (a middleware's, a page's).
    exc = sys.exc_info()[1]
    if _database_unavailable(exc):
        return error_response(
            503, *DATABASE_UNAVAILABLE, headers={"Retry-After": DEPENDENCY_RETRY_AFTER}
        )
    if isinstance(exc, DomainError) and exc.retry_after is not None:
        # A dependency refused a change made outside the API (the admin's): rolled back.
        return error_response(
            exc.status_code, exc.code, exc.message, headers={"Retry-After": exc.retry_after}
        )
    return error_response(500, "server_error", SERVER_ERROR_MESSAGE)
