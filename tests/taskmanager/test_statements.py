"""taskmanager.statements: a row inserted by SQL written once is the row the ORM's own
insert writes."""

import itertools
import re
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from accounts.models import UserSession
from taskmanager.statements import RowInsert, RowUpdate
from tasks.models import Task
from tests.factories import UserFactory
from tests.projects.helpers import new_project

pytestmark = pytest.mark.django_db


def columns(task: Task) -> dict:
    fields = [f.attname for f in Task._meta.concrete_fields if not f.primary_key]
    return {name: getattr(task, name) for name in fields}


def unsaved(project, owner, **changes) -> Task:
    values = {
        "project_id": project.pk,
        "title": "Repot the fig",
        "description": "In spring.",
        "priority": "high",
        "status": "completed",
        "due_date": datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC),
        "owner_id": owner.pk,
        "assignee_id": owner.pk,
        "completed_at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        "label_ids": [3, 1],
        "position": "1000000000",
    }
    return Task(**{**values, **changes})


def test_the_row_is_the_one_save_writes():
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    by_orm = unsaved(project, ann)
    by_orm.save(force_insert=True)
    inserted = unsaved(project, ann, position="1000000001")

    RowInsert(Task).run(inserted)

    assert inserted.pk is not None and inserted.pk != by_orm.pk
    assert not inserted._state.adding and inserted._state.db == "default"
    # auto_now_add filled in on the instance, as save() does.
    assert inserted.created_at is not None and inserted.updated_at is not None
    stored = Task.objects.get(pk=inserted.pk)
    expected = {**columns(Task.objects.get(pk=by_orm.pk)), "position": "1000000001"}
    expected.update(created_at=stored.created_at, updated_at=stored.updated_at)
    assert columns(stored) == expected
    assert stored.created_at == inserted.created_at


def test_extra_placeholders_of_the_template_take_the_extra_values():
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    insert = RowInsert(
        Task,
        "INSERT INTO {table} ({columns}) SELECT {values} FROM (SELECT %s AS suffix) AS extra"
        " RETURNING {pk}",
    )

    with CaptureQueriesContext(connection) as queries:
        insert.run(unsaved(project, ann), "suffix-value")

    assert "'suffix-value'" in queries.captured_queries[0]["sql"]
    assert Task.objects.filter(project=project).count() == 1


def test_computed_fields_take_their_expressions_and_are_read_back():
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    task = unsaved(project, ann, label_ids=[9])
    insert = RowInsert(
        Task, computed={"title": "'[' || CAST(%s AS TEXT) || ']'", "subtasks_total": "2"}
    )

    insert.run(task)

    assert (task.title, task.subtasks_total) == ("[Repot the fig]", 2)
    stored = Task.objects.get(pk=task.pk)
    assert (stored.title, stored.subtasks_total, stored.label_ids) == ("[Repot the fig]", 2, [9])


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="an SQLite before 3.35: the ORM reads lastrowid"
)
def test_a_database_that_returns_no_columns_gets_the_orm_insert(monkeypatch):
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    task = unsaved(project, ann)

    RowInsert(Task).run(task)

    assert Task.objects.get(pk=task.pk).title == "Repot the fig"
    with pytest.raises(ImproperlyConfigured):
        RowInsert(Task, "INSERT INTO {table} ({columns}) VALUES ({values})").run(
            unsaved(project, ann, position="2")
        )


def test_a_model_whose_key_is_not_drawn_is_refused():
    with pytest.raises(ImproperlyConfigured):
        RowInsert(UserSession).run(UserSession())


def test_an_update_writes_what_the_orm_update_writes_where_the_columns_match():
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    first, second = unsaved(project, ann), unsaved(project, ann, position="2")
    first.save(force_insert=True)
    second.save(force_insert=True)
    update = RowUpdate(Task)
    values = {"status": "pending", "completed_at": None, "label_ids": [7], "version": 2}

    assert update.run(values, {"id": first.pk, "version": 2}) == 0  # not at version 2
    assert update.run(values, {"version": 1, "id": first.pk}) == 1
    Task.objects.filter(pk=second.pk).update(**values)

    changed, by_orm = Task.objects.get(pk=first.pk), Task.objects.get(pk=second.pk)
    assert (changed.status, changed.completed_at, changed.label_ids, changed.version) == (
        "pending",
        None,
        [7],
        2,
    )
    times = {"created_at": None, "updated_at": None}
    assert {**columns(changed), "position": "2", **times} == {**columns(by_orm), **times}


def test_an_update_is_one_statement_per_set_of_columns_in_any_order():
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    task = unsaved(project, ann)
    task.save(force_insert=True)
    update = RowUpdate(Task)

    update.run({"title": "a", "priority": "low"}, {"id": task.pk})
    update.run({"priority": "high", "title": "b"}, {"id": task.pk})

    assert len(update._statements) == 1
    assert Task.objects.values_list("title", "priority").get() == ("b", "high")


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"version": F("version") + 1}, {"id": 1}),
        ({"title": "a"}, {"parent_id": None}),
        ({"project": 1}, {"id": 1}),
        ({}, {"id": 1}),
    ],
    ids=["an expression", "NULL compared", "a name that is no attribute", "nothing to set"],
)
def test_what_an_update_cannot_say_as_the_orm_says_it_is_refused(values, where):
    with pytest.raises((TypeError, ValueError, ImproperlyConfigured)):
        RowUpdate(Task).run(values, where)


def prepared_on_server(sql: str) -> int:
    """How many statements of this text the server holds prepared for this connection."""
    numbers = itertools.count(1)
    as_sent = re.sub("%s", lambda _: f"${next(numbers)}", sql)  # as psycopg sends it
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s", [as_sent]
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared: PostgreSQL")
def test_inserts_and_updates_are_prepared_on_the_server_once():
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    insert, update = RowInsert(Task), RowUpdate(Task)
    tasks = [unsaved(project, ann, position=f"{n}") for n in range(3)]

    for task in tasks:
        insert.run(task)
        update.run({"title": f"Task {task.pk}", "version": 2}, {"id": task.pk, "version": 1})

    (insert_sql,) = [statement.sql for statement in insert._statements.values()]
    (update_sql,) = [statement.sql for statement in update._statements.values()]
    assert prepared_on_server(insert_sql) == 1
    assert prepared_on_server(update_sql) == 1
    assert sorted(Task.objects.values_list("title", "version")) == sorted(
        (f"Task {task.pk}", 2) for task in tasks
    )


def test_while_queries_are_logged_inserts_and_updates_are_in_the_log():
    ann = UserFactory(username="ann")
    project = new_project(ann, "Garden")
    task = unsaved(project, ann)

    with CaptureQueriesContext(connection) as queries:
        RowInsert(Task).run(task)
        RowUpdate(Task).run({"title": "Logged"}, {"id": task.pk})

    inserted, updated = (query["sql"] for query in queries.captured_queries)
    assert "'Repot the fig'" in inserted
    assert "'Logged'" in updated and f"= {task.pk}" in updated
