from typing import Any

from rest_framework import serializers

# Sent by the browsable API's HTML forms; never a field of ours.
_IGNORED = {"csrfmiddlewaretoken"}


class StrictFieldsMixin(serializers.Serializer):
    """Rejects unknown and read-only fields by name instead of silently dropping them.

    `ignored_fields`: output-only fields a client may echo back (a PUT of what a GET
    returned); they are dropped and never change anything.
    """

    ignored_fields: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            skipped = _IGNORED | self.ignored_fields
            errors = {
                key: ["This field is read-only." if key in self.fields else "Unknown field."]
                for key in data
                if key not in writable and key not in skipped
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class IdRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    """A related object named by its id: a whole number (or its digits in a form).
    A JSON number with a fraction or an exponent is no id: Django would truncate 2.9
    to another object's 2, and 1e400 (infinity) would be a 500."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, float):
            self.fail("incorrect_type", data_type="number with a fraction or an exponent")
        return super().to_internal_value(data)
