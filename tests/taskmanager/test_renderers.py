"""The orjson renderer writes the bytes DRF's JSONRenderer writes."""

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from taskmanager.renderers import ORJSONRenderer
from tests.factories import TaskFactory, UserFactory

SAMPLES: list[Any] = [
    {"id": 1, "title": "Plan", "done": False, "parent": None, "score": 0.25},
    ReturnList([ReturnDict({"a": 1}, serializer=None)], serializer=None),
    {"when": datetime(2031, 5, 17, 8, 30, 15, 123456, tzinfo=UTC)},
    {
        "offset": datetime(2031, 5, 17, 8, 30, tzinfo=timezone(timedelta(hours=2))),
        "day": date(2031, 5, 17),
        "at": time(9, 5),
    },
    {"took": timedelta(seconds=90), "amount": Decimal("1.50"), "id": uuid.UUID(int=7)},
    {"error": {"code": "invalid", "fields": {"title": [ErrorDetail("Too long.", "max")]}}},
    {"lazy": gettext_lazy("This field is required.")},
    {"text": 'Grüße, 東京, emoji 🙂, quote " and \\ backslash, control \x01'},
    {"separators": "a\u2028b\u2029c"},
    {1: "int key", "nested": [[], {}, (1, 2)]},
    {"big": 2**70, "negative": -(2**70)},
    {"queryset_like": frozenset()},
    [],
    "plain",
    7,
]


@pytest.mark.parametrize("data", SAMPLES, ids=range(len(SAMPLES)))
def test_same_bytes_as_drf(data: Any) -> None:
    assert ORJSONRenderer().render(data) == JSONRenderer().render(data)


def test_unicode_line_separators_are_escaped() -> None:
    rendered = ORJSONRenderer().render({"text": "a\u2028b\u2029c"})
    assert rendered == b'{"text":"a\\u2028b\\u2029c"}'


def test_none_renders_nothing() -> None:
    assert ORJSONRenderer().render(None) == b""


def test_indent_asked_for_is_honoured() -> None:
    rendered = ORJSONRenderer().render({"a": [1]}, "application/json; indent=4")
    assert rendered == b'{\n    "a": [\n        1\n    ]\n}'


def test_what_neither_encoder_knows_still_fails() -> None:
    with pytest.raises(TypeError):
        ORJSONRenderer().render({"object": object()})


@pytest.mark.django_db
def test_task_list_response_is_drfs_bytes(api_client: Any) -> None:
    owner = UserFactory()
    TaskFactory.create_batch(3, owner=owner, title="Grüße \u2028")
    api_client.force_authenticate(owner)
    response = api_client.get("/api/v1/tasks/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(response.data)
