import copy
from collections.abc import Mapping
from typing import Any

from django.db import models
from rest_framework import relations, serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings

# Sent by the browsable API's HTML forms; never a field of ours.
_IGNORED = {"csrfmiddlewaretoken"}

UNKNOWN_FIELD = "Unknown field."
READ_ONLY_FIELD = "This field is read-only."


class StrictFieldsMixin(serializers.Serializer):
    """Refuses the fields a client may not send, by name, in one answer with every
    other invalid field: unknown ones, and read-only ones. In a JSON body, a value of
    another JSON type than its field's is refused too (`"title": 0`, `"is_active": 0`,
    `"assignee": "1"`), where DRF would convert it; a form's values are all text.

    Text is held to its field's `max_length` as sent, as the schema's `maxLength`
    counts it: DRF counts after trimming (a title of "x" and 250 spaces passed 200),
    and a name field after normalizing it.

    `echoed_fields`: output fields a client may send back unchanged (a PUT of what a
    GET returned). With the serializer's `instance`, a value equal to the one
    `represent_instance()` writes is dropped; any other value, or any value without
    an instance (a create), is refused as read-only.
    """

    echoed_fields: frozenset[str] = frozenset()

    def represent_instance(self) -> Mapping[str, Any]:
        """The instance as the API writes it, for `echoed_fields` to be compared with."""
        raise NotImplementedError(f"{type(self).__name__} has echoed fields to compare")

    def to_internal_value(self, data: Any) -> Any:
        # Here rather than in run_validation: `validate()` must not run on converted
        # values (a `"current_password": 1234` would be checked as "1234").
        wrong = {**_too_long_fields(self, data), **_mistyped_fields(self, data)}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not wrong or not isinstance(exc.detail, Mapping):
                raise
            # The type (or the length as sent) says more than DRF's message for the
            # same value.
            raise serializers.ValidationError({**exc.detail, **wrong}) from exc
        if wrong:
            raise serializers.ValidationError(wrong)
        return value

    def run_validation(self, data: Any = empty) -> Any:
        refused = self._refused_fields(data)
        try:
            value = super().run_validation(data)
        except serializers.ValidationError as exc:
            if not refused:
                raise
            raise serializers.ValidationError(_merged(refused, exc.detail)) from exc
        if refused:
            raise serializers.ValidationError(refused)
        return value

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # DRF deep-copies the declared fields for each instance, making each again from
        # its arguments: a third of a millisecond for a task's, on every write.
        return {name: _copied(field) for name, field in self._declared_fields.items()}

    def _refused_fields(self, data: Any) -> dict[str, list[str]]:
        if not hasattr(data, "keys"):
            return {}
        writable = {name for name, field in self.fields.items() if not field.read_only}
        current: Mapping[str, Any] | None = None
        errors: dict[str, list[str]] = {}
        for key in data:
            if key in writable or key in _IGNORED:
                continue
            if key in self.echoed_fields and self.instance is not None:
                if current is None:
                    current = self.represent_instance()
                if key in current and _same(data[key], current[key]):
                    continue
            known = key in self.fields or key in self.echoed_fields
            errors[key] = [READ_ONLY_FIELD if known else UNKNOWN_FIELD]
        return errors


def _copied(field: serializers.Field[Any, Any, Any, Any]) -> Any:
    """A field of its own for one serializer instance. `bind` sets the copy's own
    attributes; what a shallow copy shares with the declared field (its arguments,
    choices, messages, validators) no field changes once made. A list's child, bound
    to the list by its `__init__`, is copied too, its parent the copy. A serializer,
    a list of them or a field of many relations is copied deep, as DRF does."""
    child = getattr(field, "child", None)
    if isinstance(field, serializers.BaseSerializer | relations.ManyRelatedField) or isinstance(
        child, serializers.BaseSerializer
    ):
        return copy.deepcopy(field)
    copied: Any = copy.copy(field)
    if child is not None:
        copied.child = _copied(child)
        copied.child.parent = copied
    return copied


# A JSON type a field takes, and what is said of a value of another.
JsonType = tuple[tuple[type, ...], str]
STRING: JsonType = ((str,), "Must be a string.")
BOOLEAN: JsonType = ((bool,), "Must be true or false.")
WHOLE_NUMBER: JsonType = ((int,), "Must be a whole number.")
NUMBER: JsonType = ((int, float), "Must be a number.")
LIST: JsonType = ((list,), "Must be a list.")
OBJECT: JsonType = ((dict,), "Must be an object.")

_TEXT_FIELDS = (
    serializers.CharField,  # and EmailField, RegexField, SlugField, URLField, ...
    serializers.DateTimeField,
    serializers.DateField,
    serializers.TimeField,
    serializers.DurationField,
    serializers.UUIDField,
)
# Per serializer class, each writable field's JSON type: the fields of a class are
# the same for each of its instances (declared ones), so a request pays a dict
# lookup and an isinstance per field sent.
_json_types: dict[type[serializers.Serializer], dict[str, JsonType]] = {}


def _mistyped_fields(serializer: serializers.Serializer, data: Any) -> dict[str, list[str]]:
    """`{field: [message]}` for each value of a JSON body whose JSON type is not its
    field's. null is left to the field (allowed where `allow_null`)."""
    if not isinstance(data, Mapping) or hasattr(data, "getlist"):
        return {}  # no object, or a form (QueryDict): a form's values are all text
    types = _json_types.get(type(serializer))
    if types is None:
        types = _json_types[type(serializer)] = {
            name: kind
            for name, field in serializer.fields.items()
            if not field.read_only and (kind := json_type(field)) is not None
        }
        # A list's items too (`"ids": ["1"]` is no list of ids).
        _item_types[type(serializer)] = {
            name: kind
            for name, field in serializer.fields.items()
            if isinstance(field, serializers.ListField)
            and not field.read_only
            and (kind := json_type(field.child)) is not None
        }
    items = _item_types.get(type(serializer), {})
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        kind = types.get(name)
        if kind is None or value is None:
            continue
        if not _is_of(value, kind):
            errors[name] = [kind[1]]
        elif name in items and isinstance(value, list):
            wrong = [
                i
                for i, item in enumerate(value)
                if item is not None and not _is_of(item, items[name])
            ]
            if wrong:
                errors[name] = [f"Item {i}: {items[name][1]}" for i in wrong[:10]]
    return errors


_item_types: dict[type[serializers.Serializer], dict[str, JsonType]] = {}


def _is_of(value: Any, kind: JsonType) -> bool:
    accepted = kind[0]
    # bool is an int to Python, not to JSON.
    return isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted)


# Per serializer class, each writable text field's max_length and its message (lazy:
# translated when said).
_max_lengths: dict[type[serializers.Serializer], dict[str, tuple[int, object]]] = {}


def _too_long_fields(serializer: serializers.Serializer, data: Any) -> dict[str, list[str]]:
    """`{field: [message]}` for each text sent longer than its field's max_length, in a
    JSON body or a form. The field checks the length again on what it made of it."""
    if not isinstance(data, Mapping):
        return {}
    limits = _max_lengths.get(type(serializer))
    if limits is None:
        limits = _max_lengths[type(serializer)] = {
            name: (field.max_length, field.error_messages["max_length"])
            for name, field in serializer.fields.items()
            if isinstance(field, serializers.CharField)
            and not field.read_only
            and field.max_length is not None
        }
    errors: dict[str, list[str]] = {}
    for name, (limit, message) in limits.items():
        value = data.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors[name] = [str(message).format(max_length=limit)]
    return errors


def json_type(field: serializers.Field) -> JsonType | None:
    """The JSON type `field` takes in a JSON body, or None to leave it to the field."""
    if isinstance(field, serializers.BooleanField):
        return BOOLEAN
    if isinstance(field, serializers.IntegerField):
        return WHOLE_NUMBER
    if isinstance(field, serializers.FloatField):
        return NUMBER
    if isinstance(field, serializers.MultipleChoiceField | serializers.ListField):
        return LIST
    if isinstance(field, serializers.ChoiceField):
        keys = [key for key in field.choice_strings_to_values.values() if key != ""]
        if keys and all(isinstance(key, str) for key in keys):
            return STRING
        if keys and all(isinstance(key, int) and not isinstance(key, bool) for key in keys):
            return WHOLE_NUMBER
        return None
    if isinstance(field, _TEXT_FIELDS):
        return STRING
    if isinstance(field, relations.ManyRelatedField | serializers.ListSerializer):
        return LIST
    if isinstance(field, relations.PrimaryKeyRelatedField):
        pk = field.queryset.model._meta.pk if field.queryset is not None else None
        if field.pk_field is None and isinstance(pk, models.IntegerField):  # autofields too
            return WHOLE_NUMBER
        return None
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return OBJECT
    return None  # JSONField takes anything; a file comes in a form


def _same(sent: Any, current: Any) -> bool:
    """Equal as JSON values: `true` is not the id 1, nor 1.0 the version 1."""
    if isinstance(sent, list) and isinstance(current, list):
        return len(sent) == len(current) and all(map(_same, sent, current))
    if isinstance(sent, dict) and isinstance(current, dict):
        return sent.keys() == current.keys() and all(_same(sent[k], current[k]) for k in sent)
    return _json_type(sent) == _json_type(current) and sent == current


def _json_type(value: Any) -> type | None:
    for kind in (bool, int, float, str):  # bool first: True is an int too
        if isinstance(value, kind):
            return kind
    return None


def _merged(refused: dict[str, list[str]], detail: Any) -> dict[str, Any]:
    """The refused fields' messages with the other errors of the same request."""
    if not isinstance(detail, Mapping):
        detail = {api_settings.NON_FIELD_ERRORS_KEY: detail}
    merged: dict[str, Any] = dict(refused)
    for key, messages in detail.items():
        if key in merged and isinstance(messages, list):
            merged[key] = [*merged[key], *messages]
        else:
            merged[key] = messages
    return merged


class IdRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    """A related object named by its id: a whole number (or its digits in a form).
    A JSON number with a fraction or an exponent is no id: Django would truncate 2.9
    to another object's 2, and 1e400 (infinity) would be a 500."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, float):
            self.fail("incorrect_type", data_type="number with a fraction or an exponent")
        return super().to_internal_value(data)


class ApiRootOutputSerializer(serializers.Serializer):
    """Where each part of the API is, as absolute URLs."""

    tasks = serializers.URLField(help_text="The tasks you can see: list them, create one.")
    task_events = serializers.URLField(
        help_text="The events of those tasks you missed, e.g. after a WebSocket disconnect."
    )
    task_statistics = serializers.URLField(help_text="Counts of the tasks you can see.")
    files = serializers.URLField(help_text="Your files: list them, upload one.")
    projects = serializers.URLField(help_text="Your projects: list them, create one.")
    notifications = serializers.URLField(
        help_text="Your notifications: assignments, mentions, comments on your tasks."
    )
    webhooks = serializers.URLField(
        help_text="Webhooks of the projects you administer (site admins: all): list, register."
    )
    sync = serializers.URLField(
        help_text="Incremental sync: a snapshot of what you can see, then what changed."
    )
    register = serializers.URLField(help_text="Create an account.")
    login = serializers.URLField(help_text="Log in: an access and a refresh token.")
    token = serializers.URLField(help_text="Log in with the OAuth2 password grant.")
    refresh = serializers.URLField(help_text="Rotate a refresh token.")
    logout = serializers.URLField(help_text="End this session.")
    logout_all = serializers.URLField(help_text="End every session of yours.")
    sessions = serializers.URLField(help_text="Your live sessions.")
    tokens = serializers.URLField(
        help_text="Your personal API tokens, for scripts: list them, create one."
    )
    me = serializers.URLField(help_text="Your profile.")
    users = serializers.URLField(help_text="Every user (admins).")
