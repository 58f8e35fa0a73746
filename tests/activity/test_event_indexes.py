"""Every index of the tables each write inserts into is kept up by every insert: none
may be one that another already serves (its keys the first keys of another)."""

import re

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# The tables every task write inserts a row into.
WRITTEN = ("tasks_task", "activity_event")
_KEYS = re.compile(r"USING btree \((?P<keys>.*)\)$")


def btree_keys(table: str) -> dict[str, tuple[str, ...]]:
    """Each plain (non-unique, non-partial) btree index of the table, by its keys."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)"
            " FROM pg_index WHERE indrelid = %s::regclass"
            " AND NOT indisunique AND indpred IS NULL",
            [table],
        )
        rows = cursor.fetchall()
    found = {}
    for name, definition in rows:
        keys = _KEYS.search(definition)
        if keys is not None:
            found[name] = tuple(key.strip() for key in keys["keys"].split(","))
    return found


@pytest.mark.parametrize("table", WRITTEN)
def test_no_index_is_served_by_another(table):
    if connection.vendor != "postgresql":
        pytest.skip("the indexes that matter are PostgreSQL's")
    indexes = btree_keys(table)
    assert indexes  # the query reads the table's indexes
    served = [
        (name, other)
        for name, keys in indexes.items()
        for other, longer in indexes.items()
        if other != name and len(longer) > len(keys) and longer[: len(keys)] == keys
    ]
    assert served == []
