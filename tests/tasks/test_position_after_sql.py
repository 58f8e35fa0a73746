"""`tasks_position_after` (migration tasks.0013), the create's position in SQL, gives
what `tasks.positions.after` gives, and NULL exactly where `after` leaves the range
(or is given no key): the create then computes it in Python."""

import random

import pytest
from django.db import connection

from tasks import positions
from tasks.positions import ALPHABET, BASE, MAX_LENGTH, STEP, WIDTH

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PL/pgSQL function"),
    pytest.mark.django_db,
]

EDGES = [
    None,
    "",
    "0",
    "1",
    "z",
    "1000000000",
    "0000000000",
    "000000000a",
    "zzzzzzzzzz",
    "zzzzz",
    "zzzzyzzzzz",
    "zzzzz00000",
    positions.encode(BASE**WIDTH - STEP - 1),
    positions.encode(BASE**WIDTH - STEP),
    "a" * MAX_LENGTH,
    "1000000000" + "h" * 30,
    "ABC",
    "ab-c",
    "a b",
    "z" * (MAX_LENGTH + 1),
]


def _keys() -> list[str | None]:
    draw = random.Random(26)
    width_long = ["".join(draw.choices(ALPHABET, k=WIDTH)) for _ in range(1500)]
    any_length = [
        "".join(draw.choices(ALPHABET, k=draw.randint(1, MAX_LENGTH))) for _ in range(1500)
    ]
    return [*EDGES, *width_long, *any_length]


def _in_python(key: str | None) -> str | None:
    """`after(key)` where it is a key of WIDTH characters, else None."""
    try:
        key_after = positions.after(key)
    except ValueError:
        return None  # no key: the create's Python way refuses it
    return key_after if len(key_after) == WIDTH else None


def test_the_sql_function_gives_what_after_gives():
    keys = _keys()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, tasks_position_after(key) FROM unnest(%s::text[]) AS key", [keys]
        )
        in_sql = dict(cursor.fetchall())

    assert len(in_sql) == len(set(keys))
    wrong = {key: (value, _in_python(key)) for key, value in in_sql.items()}
    wrong = {key: values for key, values in wrong.items() if values[0] != values[1]}
    assert wrong == {}
    # Both kinds of answer were asked for.
    assert None in in_sql.values()
    assert sum(value is not None for value in in_sql.values()) > 2000
