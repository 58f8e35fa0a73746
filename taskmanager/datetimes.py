"""Date/time input: an instant, so a date and time with its UTC offset (RFC 3339, the
schema's `format: date-time`). A local time without one, or a bare date, names no
instant: it is refused, never read in the server's time zone."""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

# An unbound field, used only for DRF's datetime output (ISO 8601 in the current
# time zone, "Z" for UTC): lean `to_representation`s write exactly what generated
# fields would.
_DATETIME = serializers.DateTimeField()


def datetime_out(value: datetime | None) -> str | None:
    """DRF's output of `value`. An aware one (every value the database returns) is
    written here: the API's time zone is UTC and never activated otherwise, and the
    field's way through the current time zone costs 10 µs a value (a list page holds
    80; bench/RESULTS.md, issue 26)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return _DATETIME.to_representation(value)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


NEEDS_OFFSET = "Give a date and time with a UTC offset, e.g. 2026-12-10T12:00:00Z."


def lacks_offset(value: Any) -> bool:
    """Whether `value` is a date/time (a datetime, or a string as Django and DRF parse
    one) without a UTC offset. Anything unparsable is left to the field's own check."""
    if isinstance(value, datetime):
        return timezone.is_naive(value)
    if not isinstance(value, str):
        return False
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return False
    return parsed is not None and timezone.is_naive(parsed)


class AwareDateTimeField(serializers.DateTimeField):
    """DRF's DateTimeField, refusing a value without a UTC offset."""

    default_error_messages = {"naive": NEEDS_OFFSET}

    def to_internal_value(self, value: Any) -> datetime:
        if lacks_offset(value):
            self.fail("naive")
        return super().to_internal_value(value)
