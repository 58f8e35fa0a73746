from typing import Any

from rest_framework import serializers

# Sent by the browsable API's HTML forms; never a field of ours.
_IGNORED = {"csrfmiddlewaretoken"}


class StrictFieldsMixin(serializers.Serializer):
    """Rejects unknown and read-only fields by name instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            errors = {
                key: ["This field is read-only." if key in self.fields else "Unknown field."]
                for key in data
                if key not in writable and key not in _IGNORED
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
