"""taskmanager.prepared: a queryset compiled once answers, with each argument, the
rows the queryset built with that argument answers."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.models import Count, Min, Q

from taskmanager.prepared import _MARKERS, MAX_ARGUMENTS, PreparedRows, _native_timestamps
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

COLUMNS = ("id", "title", "owner_id", "assignee_id", "due_date", "created_at", "label_ids")


def owned_by(owner_id):
    return Task.objects.filter(owner_id=owner_id).order_by("-created_at", "-id")


@pytest.fixture
def people():
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    due = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    for n in range(5):
        TaskFactory(owner=ann, title=f"ann {n}", due_date=due + timedelta(days=n))
    for n in range(3):
        TaskFactory(owner=bob, title=f"bob {n}", assignee=ann if n else None)
    return ann, bob


@pytest.mark.parametrize(("offset", "limit"), [(0, 20), (0, 2), (2, 2), (4, 10), (9, 10)])
def test_each_argument_gets_the_rows_its_queryset_gets(people, offset, limit):
    prepared = PreparedRows(lambda owner_id: owned_by(owner_id).values_list(*COLUMNS), [int])

    for person in people:
        expected = list(owned_by(person.pk).values_list(*COLUMNS)[offset : offset + limit])
        assert [tuple(row) for row in prepared.page((person.pk,), offset, limit)] == expected


def test_values_are_converted_as_the_orm_converts_them(people):
    ann, _ = people
    prepared = PreparedRows(lambda owner_id: owned_by(owner_id).values_list(*COLUMNS), [int])

    (row,) = prepared.page((ann.pk,), 0, 1)

    assert row[4] == datetime(2031, 5, 8, 3, 2, 1, tzinfo=UTC)  # aware, in UTC
    assert row[4].tzinfo is UTC and row[5].tzinfo is UTC
    assert row[6] == []  # JSON, decoded


def test_the_queryset_is_built_and_compiled_once(people):
    built = []

    def build(owner_id):
        built.append(owner_id)
        return owned_by(owner_id).values_list("title")

    prepared = PreparedRows(build, [int])
    for person in people * 3:
        prepared.page((person.pk,), 0, 5)

    assert built == [_MARKERS[int][0]]


def test_an_argument_used_twice_is_given_at_both_places(people):
    ann, bob = people

    def involving(user_id, other_id):
        mine = Q(owner_id=user_id) | Q(assignee_id=user_id)
        return Task.objects.filter(mine, ~Q(owner_id=other_id)).order_by("id").values_list("title")

    prepared = PreparedRows(involving, [int, int])

    assert [row[0] for row in prepared.page((ann.pk, ann.pk), 0, 20)] == ["bob 1", "bob 2"]
    assert [row[0] for row in prepared.page((ann.pk, bob.pk), 0, 20)] == [
        f"ann {n}" for n in range(5)
    ]
    assert [row[0] for row in prepared.page((bob.pk, 0), 0, 20)] == ["bob 0", "bob 1", "bob 2"]


def test_the_other_parameters_stay_what_they_are(people):
    ann, bob = people
    prepared = PreparedRows(
        lambda owner_id: (
            owned_by(owner_id).filter(version=1, title__startswith="ann ").values_list("title")
        ),
        [int],
    )

    assert len(prepared.page((ann.pk,), 0, 20)) == 5
    assert prepared.page((bob.pk,), 0, 20) == []


@pytest.mark.parametrize(
    ("build", "arguments"),
    [
        (lambda owner_id: Task.objects.order_by("id").values_list("id"), [int]),  # unused
        (lambda owner_id: Task.objects.filter(owner_id=owner_id).values_list("id"), [int]),
        (lambda owner_id: owned_by(owner_id).values_list("id")[:5], [int]),
        (lambda *ids: owned_by(ids[0]).values_list("id"), [int] * (MAX_ARGUMENTS + 1)),
        (lambda title: Task.objects.filter(title=title).order_by("id").values_list("id"), [str]),
    ],
    ids=["argument not used", "a page not ordered", "sliced", "too many", "not int nor datetime"],
)
def test_what_it_cannot_run_again_is_refused(build, arguments):
    with pytest.raises(ImproperlyConfigured):
        PreparedRows(build, arguments).page([1] * len(arguments), 0, 1)


def test_an_argument_of_another_type_is_refused(people):
    prepared = PreparedRows(lambda owner_id: owned_by(owner_id).values_list("id"), [int])

    for wrong in ("1", True, 1.0, None):
        with pytest.raises(TypeError):
            prepared.page([wrong], 0, 1)


@pytest.mark.parametrize("cut", [timedelta(days=-1), timedelta(days=1, hours=1), timedelta(days=9)])
def test_a_datetime_argument_is_given_as_django_gives_one(people, cut):
    ann, _ = people
    moment = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC) + cut

    def due_before(owner_id, now):
        return (
            Task.objects.filter(owner_id=owner_id, due_date__lt=now)
            .order_by()
            .values_list("priority")
            .annotate(n=Count("id"), first=Min("due_date"))
        )

    prepared = PreparedRows(due_before, [int, datetime])

    for person in people:
        expected = sorted(due_before(person.pk, moment))
        assert sorted(tuple(row) for row in prepared.rows((person.pk, moment))) == expected
    assert sum(n for _, n, _ in prepared.rows((ann.pk, moment))) == max(0, min(5, cut.days + 1))


def test_rows_without_a_page_need_no_ordering(people):
    ann, _ = people
    prepared = PreparedRows(
        lambda owner_id: Task.objects.filter(owner_id=owner_id).values_list("title"), [int]
    )

    assert sorted(row[0] for row in prepared.rows((ann.pk,))) == [f"ann {n}" for n in range(5)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's loaders: PostgreSQL")
def test_timestamps_are_read_by_psycopgs_own_loader_in_a_utc_session(people):
    ann, _ = people
    timestamptz = psycopg.postgres.types["timestamptz"].oid
    with connection.cursor() as cursor:
        _native_timestamps(connections["default"], cursor.cursor)
        loader = cursor.cursor.adapters.get_loader(timestamptz, psycopg.pq.Format.TEXT)
        assert loader is psycopg.adapters.get_loader(timestamptz, psycopg.pq.Format.TEXT)

        # In another session time zone, which Django never sets, Django's loader and
        # what it answers: the same rows as the ORM's.
        cursor.execute("SET TIME ZONE 'Europe/Paris'")
        try:
            _native_timestamps(connections["default"], cursor.cursor)
            prepared = PreparedRows(
                lambda owner_id: owned_by(owner_id).values_list("due_date"), [int]
            )
            rows = [tuple(row) for row in prepared.page((ann.pk,), 0, 5)]
            assert rows == list(owned_by(ann.pk).values_list("due_date")[0:5])
        finally:
            cursor.execute("SET TIME ZONE 'UTC'")
