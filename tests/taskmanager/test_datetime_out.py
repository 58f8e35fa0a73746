"""`datetime_out` writes what DRF's DateTimeField writes (issue 26 took the field out of
the way of aware values): UTC with "Z", microseconds when there are any."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import serializers

from taskmanager.datetimes import datetime_out

FIELD = serializers.DateTimeField()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC),
        datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 12, 6, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-11))),
        datetime(1, 1, 1, 12, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_an_aware_value_is_written_as_drf_writes_it(value):
    assert datetime_out(value) == FIELD.to_representation(value)
    assert datetime_out(value).endswith("Z")


@pytest.mark.django_db
def test_a_naive_value_and_none_are_left_to_drf():
    naive = datetime(2026, 12, 6, 1, 2, 3)  # noqa: DTZ001 (a naive value on purpose)

    assert datetime_out(naive) == FIELD.to_representation(naive)
    assert datetime_out(None) is None
