"""The one error shape of the API, and the domain errors services raise.

Every error answers ``{"error": {"code", "message", "fields"}}``. Services raise a
``DomainError`` subclass; DRF, Django and unexpected exceptions are mapped here too,
so no request ever answers a stack trace.
"""

import logging
import sys
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


# When a client may retry after a dependency failed (the database, the file storage).
DEPENDENCY_RETRY_AFTER = "5"


class DomainError(Exception):
    """Base of the errors services raise; the handler turns one into a response."""

    status_code = status.HTTP_400_BAD_REQUEST
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
    message = "Invalid input."


class PermissionDeniedError(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"
    message = "You do not have permission to perform this action."


class NotFoundError(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
    message = "Not found."


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
    message = "The request body is too large."


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


def _from_api_exception(exc: exceptions.APIException) -> tuple[str, str, dict[str, Any]]:
    detail = exc.detail
    default_code = str(getattr(exc, "default_code", "error"))
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return "validation_error", "Invalid input.", fields
    if isinstance(detail, dict):
        # SimpleJWT puts {"detail", "code", "messages"} in its token errors.
        message = str(detail.get("detail", exc.default_detail))
        code = str(detail.get("code", default_code))
    else:
        message = str(detail)
        code = str(getattr(detail, "code", None) or default_code)
    if isinstance(exc, exceptions.AuthenticationFailed):
        # SimpleJWT's token_not_valid, user_inactive, ...: one code for clients to handle.
        code = "authentication_failed"
    if exc.status_code == status.HTTP_404_NOT_FOUND:
        # "No Task matches the given query." would name models; keep it generic.
        message = NotFoundError.message
    return code, message, {}


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
        code, message, fields = _from_api_exception(exc)
        body = error_body(code, message, fields)
        status_code = exc.status_code
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    elif isinstance(exc, RequestDataTooBig):
        body = error_body("payload_too_large", PayloadTooLargeError.message)
        status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, SuspiciousOperation):
        body = error_body("bad_request", "The request was malformed.")
        status_code = status.HTTP_400_BAD_REQUEST
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
        body = error_body("server_error", "An unexpected error occurred.")
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR

    # Whatever a failed request wrote inside ATOMIC_REQUESTS or an atomic block
    # around the view must not be committed.
    set_rollback()
    return Response(body, status=status_code, headers=headers)


REFERENCE_GONE = "Something this request refers to was deleted meanwhile; reload and retry."


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
    from accounts.auth_cache import user_vanished

    return user_vanished(user_id)


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
    exc = exceptions.AuthenticationFailed("The session has ended.", code="session_ended")
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


# Views for errors raised outside DRF (unknown URLs, Django's own 400/403/500).
def _json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "bad_request", "The request was malformed.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, "permission_denied", "You do not have permission to do this.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(404, "not_found", "Not found.")


def server_error(request: HttpRequest) -> JsonResponse:
    # Django calls this while it handles the exception (a middleware's, a page's).
    exc = sys.exc_info()[1]
    if _database_unavailable(exc):
        response = _json_error(503, *DATABASE_UNAVAILABLE)
        response["Retry-After"] = DEPENDENCY_RETRY_AFTER
        return response
    if isinstance(exc, DomainError) and exc.retry_after is not None:
        # A dependency refused a change made outside the API (the admin's): rolled back.
        response = _json_error(exc.status_code, exc.code, exc.message)
        response["Retry-After"] = exc.retry_after
        return response
    return _json_error(500, "server_error", "An unexpected error occurred.")
