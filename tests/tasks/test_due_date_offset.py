"""A `due_date` (and the `due_before`/`due_after` filters) is an instant: a date and
time with its UTC offset. A local time without one, or a bare date, is a 400."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from drf_spectacular.generators import SchemaGenerator

from tasks.models import Task
from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, assert_error, parse_dt, task_url
from tests.tasks.helpers import assert_task_unchanged, list_ids

pytestmark = pytest.mark.django_db

NEEDS_OFFSET = ["Give a date and time with a UTC offset, e.g. 2026-12-10T12:00:00Z."]
WITHOUT_OFFSET = ["2026-12-10T12:00:00", "2026-12-10", "2026-12-10T12:00", "2026-12-10 12:00:00.5"]
WITHOUT_OFFSET_IDS = ["date-and-time", "date", "minutes", "space-and-fraction"]


def assert_needs_offset(response, field):
    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {field: NEEDS_OFFSET}


@pytest.mark.parametrize("value", WITHOUT_OFFSET, ids=WITHOUT_OFFSET_IDS)
def test_creating_a_task_with_a_due_date_without_an_offset_is_400_naming_due_date(
    member_client, value
):
    response = member_client.post(TASKS_URL, {"title": "When?", "due_date": value}, format="json")

    assert_needs_offset(response, "due_date")
    assert not Task.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("value", WITHOUT_OFFSET, ids=WITHOUT_OFFSET_IDS)
def test_changing_a_due_date_to_one_without_an_offset_is_400_naming_due_date(
    member_client, member, future, method, value
):
    task = TaskFactory(owner=member, due_date=future)

    response = getattr(member_client, method)(
        task_url(task), {"title": "Same", "due_date": value}, format="json"
    )

    assert_needs_offset(response, "due_date")
    assert_task_unchanged(task)


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2026-12-10T12:00:00Z", datetime(2026, 12, 10, 12, tzinfo=UTC)),
        ("2026-12-10T12:00:00+00:00", datetime(2026, 12, 10, 12, tzinfo=UTC)),
        ("2026-12-10T12:00:00+02:00", datetime(2026, 12, 10, 10, tzinfo=UTC)),
        ("2026-12-10T12:00-05:30", datetime(2026, 12, 10, 17, 30, tzinfo=UTC)),
    ],
    ids=["z", "zero-offset", "east", "west-minutes"],
)
def test_a_due_date_with_an_offset_is_the_instant_it_names(member_client, value, instant):
    response = member_client.post(TASKS_URL, {"title": "When", "due_date": value}, format="json")

    assert response.status_code == 201, response.content
    assert parse_dt(response.json()["due_date"]) == instant
    assert Task.objects.get().due_date == instant


def test_a_due_date_of_null_still_clears_it(member_client, member, future):
    task = TaskFactory(owner=member, due_date=future)

    response = member_client.patch(task_url(task), {"due_date": None}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["due_date"] is None


@pytest.mark.parametrize("param", ["due_before", "due_after"])
@pytest.mark.parametrize("value", WITHOUT_OFFSET, ids=WITHOUT_OFFSET_IDS)
def test_a_due_filter_without_an_offset_is_400_naming_it(member_client, member, param, value):
    TaskFactory(owner=member, due_date=datetime(2026, 12, 10, 12, tzinfo=UTC))

    response = member_client.get(TASKS_URL, {param: value})

    assert_needs_offset(response, param)


def test_due_filters_with_an_offset_compare_the_instant(member_client, member):
    due = datetime(2026, 12, 10, 12, tzinfo=UTC)
    task = TaskFactory(owner=member, due_date=due)
    east = timezone(timedelta(hours=2))

    assert list_ids(member_client, {"due_before": due.astimezone(east).isoformat()}) == [task.pk]
    before = (due - timedelta(seconds=1)).astimezone(east).isoformat()
    assert list_ids(member_client, {"due_before": before}) == []


def test_the_schema_says_a_due_date_needs_an_offset():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    due_dates = [
        component["properties"]["due_date"]
        for name, component in components.items()
        if name.endswith("Request") and "due_date" in component.get("properties", {})
    ]
    filters = [
        parameter
        for parameter in schema["paths"][TASKS_URL]["get"]["parameters"]
        if parameter["name"] in ("due_before", "due_after")
    ]

    assert due_dates
    assert len(filters) == 2
    for described in [*due_dates, *(parameter["schema"] for parameter in filters)]:
        assert described["format"] == "date-time"
    for described in [*due_dates, *filters]:
        assert NEEDS_OFFSET[0] in described["description"]
