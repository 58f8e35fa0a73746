"""Unknown query parameters are refused: `?stauts=done` or `?page=2` is a 400 naming
them, never a page of everything; so are an empty value its schema does not admit
(filters would read it as absent) and a one-value parameter given twice (the last
would win). docs/api.md, "Strictness", has the rules.

An operation knows the parameters its OpenAPI operation declares, and DRF's `format`:
the document is generated once per process and kept as a set per view class and
action. The check runs in `initial()`, after authentication, permissions and
throttling, so an anonymous caller still gets its 401 and bad requests are counted.
"""

import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.generators import SchemaGenerator
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSetMixin

UNKNOWN = "Unknown query parameter."
NEEDS_VALUE = "Give a value or leave the parameter out."
ONCE = "Give this parameter once."

# A view class and its action (a viewset's) or HTTP method (a plain APIView's).
OperationKey = tuple[type[APIView], str]


class Parameters(NamedTuple):
    """An operation's query parameters."""

    names: frozenset[str]
    # Those whose schema an empty value fails (a number, a date-time, an enum, ...).
    need_value: frozenset[str]
    # Those that take one value (not an array): given twice, the last would win.
    single: frozenset[str]


NONE = Parameters(frozenset(), frozenset(), frozenset())

_lock = threading.Lock()
_declared: dict[OperationKey, Parameters] | None = None
_known: dict[OperationKey, Parameters] = {}


class StrictQueryParametersMixin(APIView):
    """Refuses a request with a query parameter the operation does not declare."""

    # What a view outside the OpenAPI document reads besides `format` (the schema's
    # `lang`); views in the document declare their parameters there.
    undocumented_query_parameters: ClassVar[frozenset[str]] = frozenset()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        check_query_parameters(self, request)


def check_query_parameters(view: APIView, request: Request) -> None:
    """A 400 naming every unknown query parameter and every empty value that needs
    one, together with what is wrong with the other known ones (filter values,
    `limit`, `offset`), so one answer says it all."""
    params = request.query_params
    if not params:
        return
    method = request.method or "GET"
    if getattr(view, method.lower(), None) is None:
        return  # no such method here: the 405 says more than a 400 would
    known, need_value, single = query_parameters(view, method)
    unknown = [name for name in params if name not in known]
    empty = [name for name in params if name in need_value and "" in params.getlist(name)]
    repeated = [name for name in params if name in single and len(params.getlist(name)) > 1]
    if not unknown and not empty and not repeated:
        return
    errors: dict[str, list[str]] = {name: [UNKNOWN] for name in unknown}
    for name, messages in _value_errors(view, request).items():
        if name in known:
            errors[name] = messages
    errors.update((name, [ONCE]) for name in repeated)
    errors.update((name, [NEEDS_VALUE]) for name in empty)
    raise ValidationError(errors)


def query_parameters(view: APIView, method: str) -> Parameters:
    """The query parameters `view` accepts with `method`, computed once per view class
    and action."""
    key = _key(view, method)
    parameters = _known.get(key)
    if parameters is None:
        extra: frozenset[str] = getattr(view, "undocumented_query_parameters", frozenset())
        fmt = api_settings.URL_FORMAT_OVERRIDE
        documented = declared().get(key, NONE)
        parameters = Parameters(
            documented.names | extra | ({fmt} if fmt else set()),
            documented.need_value,
            documented.single,
        )
        _known[key] = parameters
    return parameters


def declared() -> Mapping[OperationKey, Parameters]:
    """The query parameters of every operation of the OpenAPI document."""
    global _declared
    if _declared is None:
        with _lock:
            if _declared is None:
                _declared = _read_document()
    return _declared


def _key(view: APIView, method: str) -> OperationKey:
    method = "GET" if method.upper() == "HEAD" else method.upper()
    action = getattr(view, "action", None) if isinstance(view, ViewSetMixin) else None
    return type(view), action or method


def _read_document() -> dict[OperationKey, Parameters]:
    generator = SchemaGenerator()
    document = generator.get_schema(request=None, public=True)
    paths = document["paths"]
    names: dict[OperationKey, set[str]] = {}
    need_value: dict[OperationKey, set[str]] = {}
    single: dict[OperationKey, set[str]] = {}
    # drf-spectacular's endpoints: (path, path_regex, method, callback).
    endpoints: list[tuple[str, str, str, Any]] = list(generator.endpoints or [])  # type: ignore[arg-type]
    for path, _regex, method, callback in endpoints:
        view = generator.create_view(callback, method)
        operation = paths.get(generator.coerce_path(path, method, view), {}).get(method.lower())
        if operation is None:
            continue
        # The class of the URL conf's, not a schema extension's stand-in for it.
        action = view.action if isinstance(view, ViewSetMixin) else None
        key = (callback.cls, action or method.upper())
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        names.setdefault(key, set()).update(p["name"] for p in query)
        need_value.setdefault(key, set()).update(
            p["name"] for p in query if not admits_empty(p.get("schema", {}), document)
        )
        single.setdefault(key, set()).update(
            p["name"] for p in query if p.get("schema", {}).get("type") != "array"
        )
    return {
        key: Parameters(frozenset(value), frozenset(need_value[key]), frozenset(single[key]))
        for key, value in names.items()
    }


# String formats no empty string has.
_NON_EMPTY_FORMATS = frozenset(
    {"date-time", "date", "time", "duration", "uuid", "email", "uri", "hostname", "ipv4", "ipv6"}
)


def admits_empty(schema: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Whether "" is a valid value of a query parameter with `schema`; for an array,
    "" is one item (`?status=`), as the repeated form (`explode`) sends it."""
    if "$ref" in schema:
        # "#/components/schemas/Name"
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {})
        return admits_empty(target, document)
    if "allOf" in schema:
        return all(admits_empty(part, document) for part in schema["allOf"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return any(admits_empty(part, document) for part in schema[key])
    if "enum" in schema:
        return "" in schema["enum"]
    kind = schema.get("type")
    if kind == "array":
        return admits_empty(schema.get("items", {}), document)
    if kind in {"integer", "number", "boolean", "object"}:
        return False
    if schema.get("format") in _NON_EMPTY_FORMATS or schema.get("minLength", 0) > 0:
        return False
    pattern = schema.get("pattern")
    if pattern is not None:
        try:
            return re.search(pattern, "") is not None
        except re.error:  # an ECMA 262 pattern Python cannot read: the server decides
            return True
    return True


def _value_errors(view: APIView, request: Request) -> dict[str, list[str]]:
    """What the filters, the pagination and the view's own check (its
    `query_parameter_errors(request)`, if any) would say of the request's values."""
    errors: dict[str, list[str]] = {}
    for backend_class in getattr(view, "filter_backends", ()):
        backend = backend_class()
        if isinstance(backend, DjangoFilterBackend):
            queryset = view.get_queryset()  # type: ignore[attr-defined]
            filterset = backend.get_filterset(request, queryset, view)
            if filterset is not None and not filterset.is_valid():
                errors.update(_messages(filterset.errors))
    paginator = getattr(view, "paginator", None)
    for read in ("get_limit", "get_offset"):
        try:
            getattr(paginator, read, lambda request: None)(request)
        except ValidationError as exc:
            errors.update(_messages(exc.detail))
    own = getattr(view, "query_parameter_errors", None)
    if own is not None:
        errors.update(_messages(own(request)))
    return errors


def _messages(detail: Any) -> dict[str, list[str]]:
    if not isinstance(detail, Mapping):
        return {}
    return {
        str(name): [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        for name, messages in detail.items()
    }
