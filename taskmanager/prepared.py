"""A queryset's SQL compiled once and run again with other arguments.

Building a queryset and compiling it to SQL is Python work Django repeats on every
request: for the task list's page it was about a quarter of an uncached request's
CPU (bench/RESULTS.md, issue 26), for a statement whose text never changes, only its
arguments. `PreparedRows` builds the queryset once with marker arguments, compiles it,
finds where each marker landed in the parameters, and from then on runs the same SQL
with the caller's values in those places. The queryset is the one the ORM path builds
(the same function), so both say the same; tests/taskmanager/test_prepared.py holds
that they answer the same rows.
"""

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler

# psycopg's loader of the text format (its C one with psycopg-binary).
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(
    psycopg.postgres.types["timestamptz"].oid, psycopg.pq.Format.TEXT
)

# Integers no row's id or count can be (ids are positive): where one of these is found
# among the compiled parameters, the caller's argument goes.
MARKERS = tuple(-7_350_000_000_000_000 - n for n in range(8))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    # For each argument, the positions of its marker among the parameters.
    slots: tuple[tuple[int, ...], ...]
    compiler: SQLCompiler
    converters: dict[int, Any]


class PreparedRows:
    """Rows of `build(*args)`, a queryset of `values_list` tuples, a page at a time.

    `build` takes integer arguments only, each used by the queryset as a value (a
    filter's operand), never to choose its shape: a value that changed the SQL's text
    would be run with the text compiled for the marker. The page's LIMIT and OFFSET are
    parameters added after the compiled SQL, which must end in its ORDER BY.
    """

    def __init__(self, build: Callable[..., QuerySet[Any]], arity: int) -> None:
        if arity > len(MARKERS):
            raise ImproperlyConfigured(f"At most {len(MARKERS)} arguments.")
        self._build = build
        self._arity = arity
        # Per connection object: Django's are per thread, and converters are bound to
        # their connection's operations.
        self._compiled: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Compiled] = (
            weakref.WeakKeyDictionary()
        )

    def page(
        self, args: Sequence[int], offset: int, limit: int, using: str = DEFAULT_DB_ALIAS
    ) -> list[Sequence[Any]]:
        connection = connections[using]
        compiled = self._compiled.get(connection)
        if compiled is None:
            compiled = self._compiled[connection] = self._compile(connection, using)
        params = list(compiled.params)
        for slot, value in zip(compiled.slots, args, strict=True):
            for position in slot:
                params[position] = value
        params += [limit, offset]
        with connection.cursor() as cursor:
            _native_timestamps(connection, cursor.cursor)
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            return list(compiled.compiler.apply_converters(rows, compiled.converters))
        return rows

    def _compile(self, connection: BaseDatabaseWrapper, using: str) -> _Compiled:
        markers = MARKERS[: self._arity]
        queryset = self._build(*markers)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        if compiler.query.is_sliced or not compiler.query.order_by:
            raise ImproperlyConfigured("The queryset must be ordered and not sliced.")
        slots = tuple(
            tuple(i for i, param in enumerate(params) if _is(param, marker)) for marker in markers
        )
        if not all(slots):
            raise ImproperlyConfigured("An argument is not a parameter of the SQL.")
        expressions = [column for column, _, _ in compiler.select]
        return _Compiled(
            sql=f"{sql} LIMIT %s OFFSET %s",
            params=tuple(params),
            slots=slots,
            compiler=compiler,
            converters=compiler.get_converters(expressions),
        )


def _native_timestamps(connection: BaseDatabaseWrapper, cursor: Any) -> None:
    """psycopg's own `timestamptz` loader (C) on this cursor, where Django's (a Python
    subclass of psycopg's Python loader) parses each value in Python: half of running
    a 20-row page (bench/RESULTS.md). In a session whose time zone is UTC, the one
    Django sets, both give the same aware values, in `datetime.timezone.utc`."""
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    if _TIMESTAMPTZ_LOADER and cursor.connection.info.parameter_status("TimeZone") == "UTC":
        cursor.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)


def _is(param: Any, marker: int) -> bool:
    # `True == 1`: only an int that is not a bool can be a marker.
    return type(param) is int and param == marker
