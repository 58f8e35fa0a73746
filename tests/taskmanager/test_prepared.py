"""taskmanager.prepared: a queryset compiled once answers, with each argument, the
rows the queryset built with that argument answers; read group by group, the same."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.models import Count, Min, Q
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext

from projects.models import Membership
from taskmanager.prepared import (
    _MARKERS,
    MAX_ARGUMENTS,
    PreparedRows,
    PreparedTopRows,
    _native_timestamps,
)
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.projects.helpers import new_project

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


# PreparedTopRows: the first pages read group by group (a member's projects).


def of_member(user_id):
    return (
        Task.objects.filter(project__memberships__user_id=user_id)
        .order_by("-created_at", "-id")
        .values_list(*COLUMNS)
    )


def projects_of(user_id):
    return Membership.objects.filter(user_id=user_id).values_list("project_id")


def of_project(project_id):
    return (
        Task.objects.filter(project_id=project_id)
        .order_by("-created_at", "-id")
        .values_list(*COLUMNS)
    )


def top_rows(top=6, **changes):
    options = {"groups": projects_of, "one_group": of_project, "top": top} | changes
    return PreparedTopRows(of_member, [int], **options)


@pytest.fixture
def teams(people):
    """Ann's and Bob's own tasks (`people`), and a project of Ann's that Bob is in,
    its tasks made between theirs."""
    ann, bob = people
    shared = new_project(ann, "Shared", (bob, "member"))
    for n in range(4):
        TaskFactory(owner=ann, project=shared, title=f"shared {n}")
        TaskFactory(owner=bob, title=f"bob later {n}")
    return ann, bob, UserFactory(username="cid")


@pytest.mark.parametrize(
    ("offset", "limit"), [(0, 20), (0, 1), (0, 6), (2, 3), (5, 1), (4, 4), (6, 2), (11, 3)]
)
def test_each_reader_gets_the_page_of_the_query_over_every_group(teams, offset, limit):
    """Within `top` on PostgreSQL group by group, past it (and on SQLite) `build`."""
    prepared = top_rows()

    for person in teams:
        expected = list(of_member(person.pk)[offset : offset + limit])
        assert [tuple(row) for row in prepared.page((person.pk,), offset, limit)] == expected
    ann, bob, _ = teams
    # Own tasks, the shared project's and those of Bob's assigned to Ann ("Shared by bob").
    assert len(of_member(ann.pk)) == len(of_member(bob.pk)) == 11


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LATERAL: PostgreSQL")
def test_groups_outside_the_readers_are_not_read(teams):
    _, bob, _ = teams
    prepared = top_rows(
        top=20, groups=lambda user_id: projects_of(user_id).filter(project__name="Shared")
    )

    titles = [row[1] for row in prepared.page((bob.pk,), 0, 20)]

    assert titles == [f"shared {n}" for n in reversed(range(4))]


def plans_of(prepared):
    """How many times the server prepared this statement, and its generic and custom
    plans (a pooled connection keeps other tests' statements too)."""
    return plans_of_sql(prepared._compiled_top[connections["default"]].sql)


def plans_of_sql(sql):
    numbers = itertools.count(1)
    as_sent = re.sub("%s", lambda _: f"${next(numbers)}", sql)  # as psycopg sends it
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)"
            " FROM pg_prepared_statements WHERE statement = %s",
            [as_sent],
        )
        return cursor.fetchone()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LATERAL: PostgreSQL")
def test_the_first_pages_are_one_statement_prepared_once_and_planned_once(teams):
    prepared = top_rows()
    prepared.page((teams[0].pk,), 0, 5)
    statements, generic, custom = plans_of(prepared)

    for person in teams * 3:
        prepared.page((person.pk,), 0, 5)
        prepared.page((person.pk,), 1, 3)

    assert plans_of(prepared) == (1, generic + 18, 0)
    assert statements == 1 and custom == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LATERAL: PostgreSQL")
def test_a_page_reads_at_most_offset_plus_limit_rows_of_each_group(teams):
    ann, _, _ = teams
    top = top_rows()
    top.page((ann.pk,), 0, 1)
    sql = top._compiled_top[connections["default"]].sql
    params = [ann.pk, 2 + 1, 1, 2]  # the reader, offset + limit, limit, offset

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # A limit run once per project of Ann's (3), reading at most 3 rows each.
    groups = len(projects_of(ann.pk))
    limits = re.findall(r"Limit \(actual rows=(\d+) loops=(\d+)\)", plan)
    assert any(int(rows) <= 3 and int(loops) == groups == 3 for rows, loops in limits), plan


@pytest.mark.parametrize(
    "changes",
    [
        {
            "groups": lambda user_id: Membership.objects.filter(user_id=user_id).values_list(
                "project_id", "role"
            )
        },
        {
            "one_group": lambda project_id: of_project(project_id).filter(
                Q(project_id=project_id) | Q(parent_id=project_id)
            )
        },
        {
            "one_group": lambda project_id: (
                Task.objects.filter(project_id=project_id)
                .order_by(Lower("title"))
                .values_list("id")
            )
        },
    ],
    ids=["groups of two columns", "the group compared twice", "ordered by what is not selected"],
)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="LATERAL: PostgreSQL")
def test_what_it_cannot_read_group_by_group_is_refused(teams, changes):
    with pytest.raises(ImproperlyConfigured):
        top_rows(**changes).page((teams[0].pk,), 0, 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LATERAL: PostgreSQL")
def test_while_queries_are_logged_the_log_holds_the_statement(teams):
    ann, _, _ = teams
    top = top_rows()

    with CaptureQueriesContext(connection) as queries:
        rows = top.page((ann.pk,), 0, 4)

    assert [tuple(row) for row in rows] == list(of_member(ann.pk)[0:4])
    (logged,) = queries.captured_queries
    assert "CROSS JOIN LATERAL" in logged["sql"] and f"= {ann.pk})" in logged["sql"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared: PostgreSQL")
def test_rows_on_the_server_are_prepared_once_and_answer_as_the_queryset(people):
    prepared = PreparedRows(
        lambda owner_id: owned_by(owner_id).values_list(*COLUMNS), [int], on_server=True
    )
    prepared.page((people[0].pk,), 0, 1)
    prepared.rows((people[0].pk,))
    compiled = prepared._compiled[connections["default"]].sql
    pages, rows = plans_of_sql(f"{compiled} LIMIT %s OFFSET %s"), plans_of_sql(compiled)

    for person in people * 2:
        expected = list(owned_by(person.pk).values_list(*COLUMNS))
        assert [tuple(row) for row in prepared.page((person.pk,), 1, 2)] == expected[1:3]
        assert [tuple(row) for row in prepared.rows((person.pk,))] == expected

    assert pages[0] == rows[0] == 1
    assert plans_of_sql(f"{compiled} LIMIT %s OFFSET %s") == (1, pages[1] + 4, 0)
    assert plans_of_sql(compiled) == (1, rows[1] + 4, 0)


def test_rows_on_the_server_bind_on_the_client_where_there_is_no_server(people):
    # SQLite, or queries logged: the same rows, the statement in the log.
    ann, _ = people
    prepared = PreparedRows(
        lambda owner_id: owned_by(owner_id).values_list(*COLUMNS), [int], on_server=True
    )

    with CaptureQueriesContext(connection) as queries:
        rows = prepared.page((ann.pk,), 0, 3)

    assert [tuple(row) for row in rows] == list(owned_by(ann.pk).values_list(*COLUMNS)[:3])
    (logged,) = queries.captured_queries
    assert f"= {ann.pk}" in logged["sql"]


def test_the_first_row_is_the_querysets_first(people):
    ann, bob = people
    prepared = PreparedRows(
        lambda owner_id: owned_by(owner_id).values_list(*COLUMNS), [int], on_server=True
    )

    assert tuple(prepared.first((ann.pk,))) == owned_by(ann.pk).values_list(*COLUMNS).first()
    assert tuple(prepared.first((bob.pk,))) == owned_by(bob.pk).values_list(*COLUMNS).first()
    assert prepared.first((10**12,)) is None
    with pytest.raises(ImproperlyConfigured):
        PreparedRows(
            lambda owner_id: Task.objects.filter(owner_id=owner_id).order_by().values_list("id"),
            [int],
        ).first((ann.pk,))
