"""HTTP preconditions (RFC 9110, section 13) on objects with an id and a version:
`ETag`, `If-Match` and `If-None-Match` for tasks and projects alike."""

import re
from typing import NamedTuple, Protocol

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from taskmanager.exceptions import PreconditionFailedError


class Versioned(Protocol):
    @property
    def pk(self) -> int: ...

    @property
    def version(self) -> int: ...


# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc being
# visible ASCII but DQUOTE, or obs-text (headers reach Django decoded as latin-1).
ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
# `*`, or a list of tags (section 5.6.1: commas between, empty elements and blanks
# allowed). Also the headers' schema pattern (ECMA-262 reads it the same).
PRECONDITION_PATTERN = (
    rf"^(?:[ \t]*\*[ \t]*|[ \t,]*{ENTITY_TAG}(?:[ \t]*,[ \t,]*{ENTITY_TAG})*[ \t,]*)$"
)
_PRECONDITION = re.compile(PRECONDITION_PATTERN)
_ENTITY_TAG = re.compile(ENTITY_TAG)
MALFORMED_PRECONDITION = 'Give * or a list of quoted entity tags, e.g. "12-3" (its ETag).'

IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": PRECONDITION_PATTERN},
    OpenApiParameter.HEADER,
    description="The current `ETag` (or `*`); any other (a weak `W/` one too) answers "
    "412, a value that is not `*` nor a list of quoted entity tags 400",
)
IF_NONE_MATCH_WRITE = OpenApiParameter(
    "If-None-Match",
    {"type": "string", "pattern": PRECONDITION_PATTERN},
    OpenApiParameter.HEADER,
    description="`*` or the current `ETag` answers 412 instead of a change; a value "
    "that is not `*` nor a list of quoted entity tags 400",
)


class ObjectVersion(NamedTuple):
    """An object's id and version, as a cached representation holds them."""

    pk: int
    version: int


def etag(obj: Versioned) -> str:
    return etag_of(obj.pk, obj.version)


def etag_of(pk: int, version: int) -> str:
    return f'"{pk}-{version}"'


def check_preconditions(request: Request, task: Versioned) -> int | None:
    """Evaluates the request's preconditions on `task` (or a project) as RFC 9110
    (section 13.2.2) orders them; one that fails is a 412 in the error shape.

    Returns the version `If-Match` names, for the service to check again under the
    row lock (`if_match`); None without it or with `*`.
    """
    errors = precondition_errors(request)
    if errors:
        raise ValidationError(errors)
    current = etag(task)
    if_match = _entity_tags(request, "If-Match")
    # Strong comparison (section 13.1.1): our ETags are strong, so a weak one never
    # names this exact representation.
    if if_match is not None and not _names(if_match, current):
        raise PreconditionFailedError()
    # On a GET, If-None-Match is a cache check (304), which ConditionalGetMiddleware
    # answers; on a write, `*` or the current ETag (weak comparison, section 13.1.2)
    # mean "only if it does not exist or has changed".
    if_none_match = _entity_tags(request, "If-None-Match")
    if request.method not in SAFE_METHODS and if_none_match is not None:
        weakly = [tag.removeprefix("W/") for tag in if_none_match]
        if _names(weakly, current):
            raise PreconditionFailedError()
    if if_match is None or if_match == ["*"]:
        return None
    return task.version


def precondition_errors(request: Request) -> dict[str, list[str]]:
    """The precondition headers of the request that are not `*` nor a list of quoted
    entity tags, by name: a 400, not the 412 of a tag that names another version.
    `If-None-Match` on a GET only asks for a 304, and is left alone."""
    names = ["If-Match"] if request.method in SAFE_METHODS else ["If-Match", "If-None-Match"]
    return {
        name: [MALFORMED_PRECONDITION]
        for name in names
        if request.headers.get(name) is not None and _entity_tags(request, name) is None
    }


def _entity_tags(request: Request, name: str) -> list[str] | None:
    value = request.headers.get(name)
    return None if value is None else entity_tags(value)


def _names(tags: list[str], current: str) -> bool:
    return tags == ["*"] or current in tags


def entity_tags(value: str) -> list[str] | None:
    """The tags of an `If-Match` or `If-None-Match` value (RFC 9110 section 13.1):
    `["*"]`, or the quoted tags with their `W/`; None when it is neither. Django's
    `parse_etags` drops what it cannot read: `1-3` named no tag, and failed as one
    of another version would."""
    if not _PRECONDITION.fullmatch(value):
        return None
    if value.strip(" \t") == "*":
        return ["*"]
    return _ENTITY_TAG.findall(value)
