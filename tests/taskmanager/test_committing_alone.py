"""`taskmanager.transactions.committing_alone`: on PostgreSQL, the one statement of an
outermost atomic block that has sent nothing commits by itself; everywhere else it
stays part of the block's transaction."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from taskmanager.transactions import committing_alone
from tests.factories import TaskFactory
from tests.helpers import TRANSACTION_COMMANDS, own_connection, sent_to_postgresql

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's transactions"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _retitle(task_id: int, title: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tasks_task SET title = %s WHERE id = %s", [title, task_id])
        return cursor.rowcount


def _title_seen_elsewhere(task_id: int) -> str:
    with own_connection() as other:
        row = other.execute("SELECT title FROM tasks_task WHERE id = %s", [task_id]).fetchone()
    assert row is not None
    return str(row[0])


def test_the_statement_commits_by_itself_and_the_effects_wait_for_the_block():
    task = TaskFactory(title="Before")
    effects: list[str] = []

    with sent_to_postgresql() as sent:
        with transaction.atomic():
            transaction.on_commit(lambda: effects.append("ran"))
            with committing_alone() as alone:
                _retitle(task.pk, "After")
            assert alone
            assert _title_seen_elsewhere(task.pk) == "After"
            assert effects == []
            assert connection.connection.autocommit is False
        assert effects == ["ran"]

    assert TRANSACTION_COMMANDS.isdisjoint(sent), sent


@contextmanager
def _after_a_statement() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    yield


@pytest.mark.parametrize("inside", [transaction.atomic, _after_a_statement])
def test_a_nested_block_or_one_that_has_sent_a_statement_keeps_its_transaction(
    inside: Callable[[], AbstractContextManager[Any]],
):
    task = TaskFactory(title="Before")

    with transaction.atomic(), inside():
        with committing_alone() as alone:
            _retitle(task.pk, "After")
        assert not alone
        assert _title_seen_elsewhere(task.pk) == "Before"

    assert _title_seen_elsewhere(task.pk) == "After"


def test_after_a_statement_that_changed_no_row_the_block_is_one_transaction():
    task = TaskFactory(title="Before")

    with pytest.raises(RuntimeError), transaction.atomic():
        with committing_alone() as alone:
            assert _retitle(-1, "Nobody") == 0
        assert alone
        _retitle(task.pk, "After")
        assert _title_seen_elsewhere(task.pk) == "Before"
        raise RuntimeError("rolls the block back")

    assert _title_seen_elsewhere(task.pk) == "Before"


def test_a_failing_statement_leaves_the_connection_in_its_transactions():
    task = TaskFactory(title="Before")

    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        committing_alone(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE tasks_task SET owner_id = -1 WHERE id = %s", [task.pk])

    with pytest.raises(RuntimeError), transaction.atomic():
        _retitle(task.pk, "After")
        raise RuntimeError("rolls the block back")
    assert _title_seen_elsewhere(task.pk) == "Before"


def test_outside_a_block_nothing_changes():
    task = TaskFactory(title="Before")

    with committing_alone() as alone:
        _retitle(task.pk, "After")

    assert not alone
    assert _title_seen_elsewhere(task.pk) == "After"
