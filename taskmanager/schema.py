"""The OpenAPI schema's conventions.

- The error responses: the one error shape of the API and the statuses each
  operation can answer with it (checked by `make fuzz`).

      @extend_schema(responses={200: TaskOutputSerializer, **errors(401, 404, 429)})

- Conditional GETs (`taskmanager.conditional`): `CONDITIONAL_GET` and `NOT_MODIFIED`
  for the operations whose successful GET carries an `ETag`.

- `AutoSchema`: an operation's description is its view's own documentation, a
  component's its serializer's own; both are written for the API's users. Request
  bodies of strict serializers refuse other properties, PATCH bodies carry no
  defaults, and path ids are integers. Text refuses NUL, in bodies and in query
  parameters, an email input carries the server's rule (`EMAIL`) instead of `format:
  email`, and a serializer's `body_rules` (`one_of`, `together`) say which of its
  fields go together.
"""

import inspect
from typing import Any

from django import forms
from drf_spectacular import openapi
from drf_spectacular.plumbing import get_override, get_view_model, is_patched_serializer
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from taskmanager.filters import OrderedValuesWidget
from taskmanager.serializers import StrictFieldsMixin

# The ids of our tables: BigAutoField, from 1.
PATH_ID = {"type": "integer", "format": "int64", "minimum": 1}
# What str.strip() removes (str.isspace), as DRF's and Django's CharFields trim. Not
# `\s`: ECMA's has U+FEFF and lacks U+001C-U+001F and U+0085, Python's is this set.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Text without NUL: DRF's CharField and Django's form CharField refuse it ("Null
# characters are not allowed."), and PostgreSQL cannot store it.
NO_NUL = r"^[^\x00]*$"
# A field that trims whitespace and refuses blanks also needs a character that is
# not whitespace ("  " trims to "" and is refused).
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"

# An email address as Django's EmailValidator takes it (DRF's EmailField), spelled as
# one ECMA-262 pattern: `format: email` also takes `a@b.c`, where Django wants a
# top-level domain of 2 to 63 letters, and a schema's pattern has no flags. The local
# part is dot-separated atext (Django's [A-Z] under IGNORECASE also matches U+0130 and
# U+0131, the dotted and dotless i) or a quoted string; the domain is `localhost`, an
# address literal, or labels of letters, digits and hyphens, the last one letters or
# punycode. Django also takes a domain's labels in Unicode (from U+00A1), which the
# pattern leaves out: each such character range costs hypothesis (schemathesis) a
# second to build, for every strategy it builds. tests/contract/test_email_pattern.py
# holds the two to the same addresses.
_ATEXT = r"-!#$%&'*+/=?^_`{|}~0-9A-Za-z\u0130\u0131"
_QUOTED = r'"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*"'
_LABEL = r"[0-9A-Za-z](?:[-0-9A-Za-z]{0,61}[0-9A-Za-z])?"
_TOP_LABEL = r"(?:[A-Za-z][-A-Za-z]{0,61}[A-Za-z]|[Xx][Nn]--[0-9A-Za-z]{1,59})"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_HEXTET = r"[0-9A-Fa-f]{1,4}"
_HEXTETS = rf"(?:{_HEXTET}(?::{_HEXTET})*)?"
# Python's ipaddress, as Django calls it: at most 39 characters; eight groups, six and
# an IPv4 address, or fewer around one "::" (the lookaheads count them).
_IPV6 = (
    r"(?=[0-9A-Fa-f:.]{2,39}\])"
    rf"(?:(?:{_HEXTET}:){{7}}{_HEXTET}|(?:{_HEXTET}:){{6}}{_IPV4}"
    rf"|(?=(?::*[0-9A-Fa-f]+){{0,7}}:*\]){_HEXTETS}::{_HEXTETS}"
    rf"|(?=:*(?:[0-9A-Fa-f]+:+){{0,5}}[0-9.]+\]){_HEXTETS}::(?:{_HEXTET}:)*{_IPV4})"
)
EMAIL = (
    rf"^(?:[{_ATEXT}]+(?:\.[{_ATEXT}]+)*|{_QUOTED})"
    rf"@(?:{_LABEL}(?:\.{_LABEL})*\.{_TOP_LABEL}|[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]"
    rf"|\[(?:{_IPV4}|{_IPV6})\])$"
)
EMAIL_DESCRIPTION = (
    "An email address. An internationalized domain is written in punycode (`xn--`). "
    "Compatibility characters (such as fullwidth letters) are normalized (NFKC) and "
    "the domain lower-cased before the address is checked and stored."
)


class AutoSchema(openapi.AutoSchema):
    """Describes an operation with the docstring of its action, or else of its view,
    written on the view itself (or an `extend_schema(description=...)`).

    drf-spectacular's default walks the view's bases up to DRF's own classes and
    takes the first docstring it meets: a mixin's notes for its readers (how rate
    limit headers are added, why filters skip `get_object`) became the description
    of every task and file operation in Swagger UI and ReDoc."""

    # drf-spectacular's own signature, which differs from DRF's ViewInspector it extends.
    def get_description(self) -> str:  # type: ignore[override]
        view_class = type(self.view)
        action = getattr(self.view, "action", None) or self.method.lower()
        own = view_class.__dict__.get(action)  # the action as written on this view
        doc = getattr(own, "__doc__", None) or view_class.__dict__.get("__doc__")
        return inspect.cleandoc(doc) if doc else ""

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        properties: dict[str, Any] = schema.get("properties", {})
        for name, field in serializer.fields.items():
            if isinstance(field, serializers.EmailField) and name in properties:
                properties[name] = _email(properties[name], direction)
        if direction == "request":
            for name, field in serializer.fields.items():
                pattern = _text_pattern(field, properties.get(name, {}))
                if pattern:
                    properties[name]["pattern"] = pattern
            if isinstance(serializer, StrictFieldsMixin):
                schema["additionalProperties"] = False
            rules = getattr(serializer, "body_rules", ())
            if rules:
                # In `allOf`: openapi-python-client 0.29 turns a component with a
                # top-level oneOf/anyOf into an untyped union instead of a model.
                schema["allOf"] = [dict(rule) for rule in rules]
        if is_patched_serializer(serializer, direction):
            # A generated client fills a missing field with its default and sends it:
            # a PATCH of the title alone would reset the others.
            for name, prop in properties.items():
                properties[name] = _without_default(prop)
        # Its own docstring only: drf-spectacular falls back on a base class's, such
        # as a mixin's notes for the code's readers.
        schema.pop("description", None)
        description = get_override(serializer, "description", _own_doc(type(serializer)))
        if description:
            schema = {"type": schema.pop("type"), "description": description, **schema}
        return schema

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._get_filter_parameters()
        filterset_class = getattr(self.view, "filterset_class", None)
        filters = filterset_class.base_filters if filterset_class is not None else {}
        for parameter in parameters:
            # A filter's form field refuses a longer value (400); drf-spectacular does
            # not say so.
            found = filters.get(parameter["name"])
            if found is None:
                continue
            schema = parameter["schema"]
            max_length = found.extra.get("max_length")
            if max_length and schema.get("type") == "string":
                schema["maxLength"] = max_length
            if issubclass(found.field_class, forms.CharField) and _is_free_text(schema):
                schema["pattern"] = NO_NUL
            widget = found.extra.get("widget")
            if isinstance(widget, type) and issubclass(widget, OrderedValuesWidget):
                # Repeated (`?ordering=a&ordering=b`, what generated clients send);
                # drf-spectacular says comma-separated only.
                parameter["explode"] = True
        return parameters

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._resolve_path_parameters(variables)
        model = get_view_model(self.view, emit_warnings=False)
        for parameter in parameters:
            schema = parameter["schema"]
            digits = schema.get("type") == "string" and schema.get("pattern") in (
                r"^\d+$",
                r"^[0-9]+$",
            )
            if schema.get("type") == "integer" or digits:
                parameter["schema"] = dict(PATH_ID)
                if model is not None:
                    parameter["description"] = f"The {model._meta.verbose_name}'s id."
        return parameters


def _own_doc(cls: type) -> str:
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else ""


def _email(schema: dict[str, Any], direction: str) -> dict[str, Any]:
    """An email's property with EMAIL for its `format: email`, which schemathesis
    fills with addresses (`0@0.a`) without reading a pattern next to it. An answer's
    email has neither: an address stored with a Unicode domain matches neither."""
    schema = {key: value for key, value in schema.items() if key != "format"}
    if direction == "request":
        schema["pattern"] = EMAIL
        schema.setdefault("description", EMAIL_DESCRIPTION)
    return schema


def _is_free_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and not {"pattern", "format", "enum"} & set(schema)


def _text_pattern(field: Any, schema: dict[str, Any]) -> str | None:
    """The pattern of a CharField's text: no NUL and, if trimmed, not blank. A field's
    own pattern (usernames, emails) or format (a date-time) already says both."""
    if not isinstance(field, serializers.CharField) or not _is_free_text(schema):
        return None
    return NOT_BLANK if field.trim_whitespace and not field.allow_blank else NO_NUL


def one_of(*names: str) -> dict[str, Any]:
    """A body rule (a serializer's `body_rules`): exactly one of these fields."""
    return {"oneOf": [{"required": [name]} for name in names]}


def together(*names: str) -> dict[str, Any]:
    """A body rule (a serializer's `body_rules`): all of these fields, or none."""
    return {
        "anyOf": [
            {"required": list(names)},
            {"not": {"anyOf": [{"required": [name]} for name in names]}},
        ]
    }


def _without_default(schema: dict[str, Any]) -> dict[str, Any]:
    schema = {key: value for key, value in schema.items() if key != "default"}
    # `allOf: [$ref]` only held the ref apart from its default.
    if list(schema) == ["allOf"] and len(schema["allOf"]) == 1:
        return dict(schema["allOf"][0])
    return schema


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: `validation_error`, ...")
    message = serializers.CharField(help_text="For a person; may change.")
    # The metaclass takes declared fields out of the class: `Serializer.fields` stays.
    fields = serializers.DictField(  # type: ignore[assignment]
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
    403: "Not allowed for your role, a session-cookie request without its CSRF token, or "
    "a personal API token without the scope needed (`insufficient_scope`).",
    404: "No such resource, or one you cannot see.",
    409: "Conflicts with the current state (an Idempotency-Key in use or used with another body).",
    412: "`If-Match` does not name the current version (`ETag`).",
    413: "The request body is too large.",
    415: "The body's (or the uploaded file's) type is not accepted.",
    429: "Throttled: `Retry-After` gives the seconds to wait.",
    503: "The file storage failed; nothing was half-written, retrying may work.",
}

# The statuses most operations share. Every authenticated view is throttled
# (REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES or its own), and a personal API token
# without the view's scopes (or on a view no token may use) is 403 on any method.
AUTHENTICATED = (401, 403, 429)
# Unsafe methods: also a session-cookie request without its CSRF token is 403.
AUTHENTICATED_WRITE = AUTHENTICATED
# Reads every personal token may make (accounts.scopes: `()`; the API root, `GET
# /users/me/`): no scope to lack, no CSRF on a read, so no 403.
ANY_TOKEN_READ = (401, 429)
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


class BodyRulesSchema(AutoSchema):
    """A body that must hold one of some fields (a `one_of` body rule: adding a member
    by username or email) is required, though no field is on its own: the server
    refuses a missing body as it refuses `{}`, and a generated client must not leave
    it out."""

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        body: dict[str, Any] | None = super()._get_request_body(direction)
        rules = getattr(self.get_request_serializer(), "body_rules", ())
        if body is not None and any("oneOf" in rule for rule in rules):
            body["required"] = True
        return body
