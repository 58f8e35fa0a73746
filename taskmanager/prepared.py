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

import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler

# psycopg's loader of the text format (its C one with psycopg-binary).
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(
    psycopg.postgres.types["timestamptz"].oid, psycopg.pq.Format.TEXT
)

# Values no argument takes (ids are positive; no task is due in 1901): where the
# marker of an argument is found among the compiled parameters, its value goes.
MAX_ARGUMENTS = 8
_MARKERS: dict[type, tuple[Any, ...]] = {
    int: tuple(-7_350_000_000_000_000 - n for n in range(MAX_ARGUMENTS)),
    datetime: tuple(
        datetime(1901, 2, 3, 4, 5, 6, 7_000 + n, tzinfo=UTC) for n in range(MAX_ARGUMENTS)
    ),
}


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    # For each argument, the positions of its marker among the parameters.
    slots: tuple[tuple[int, ...], ...]
    ordered: bool
    compiler: SQLCompiler
    converters: dict[int, Any]


class PreparedRows:
    """Rows of `build(*args)`, a queryset of `values_list` tuples: all of them
    (`rows`), or a page of an ordered one (`page`).

    `arguments` are the types of `build`'s arguments: `int` or an aware `datetime`,
    each used by the queryset as a value (a filter's operand), never to choose its
    shape: a value that changed the SQL's text would be run with the text compiled
    for the marker. A page's LIMIT and OFFSET are parameters added after the compiled
    SQL, which then ends in its ORDER BY.

    `on_server`: on PostgreSQL the statement is prepared on the server, planned once
    per connection with a generic plan (settings), and its values bound there: each
    parameter must take its type from where it stands. For a statement whose best
    plan is the same for every value (a look-up by a unique key).
    """

    def __init__(
        self,
        build: Callable[..., QuerySet[Any]],
        arguments: Sequence[type],
        *,
        on_server: bool = False,
    ) -> None:
        if len(arguments) > MAX_ARGUMENTS or not set(arguments) <= _MARKERS.keys():
            raise ImproperlyConfigured(f"At most {MAX_ARGUMENTS} arguments, ints or datetimes.")
        self._build = build
        self._arguments = tuple(arguments)
        self._on_server = on_server
        # Per connection object: Django's are per thread, and converters are bound to
        # their connection's operations.
        self._compiled: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Compiled] = (
            weakref.WeakKeyDictionary()
        )

    def rows(self, args: Sequence[Any], using: str = DEFAULT_DB_ALIAS) -> list[Sequence[Any]]:
        connection = connections[using]
        compiled = self._compiled_for(connection, using)
        params = self._params(connection, compiled, args)
        return self._run(connection, compiled, compiled.sql, params, self._on_server)

    def page(
        self, args: Sequence[Any], offset: int, limit: int, using: str = DEFAULT_DB_ALIAS
    ) -> list[Sequence[Any]]:
        return self._page(args, offset, limit, using)

    def first(self, args: Sequence[Any], using: str = DEFAULT_DB_ALIAS) -> Sequence[Any] | None:
        """The first row of an ordered queryset, or None. Its LIMIT is written in the
        SQL: a plan made once for every value (`on_server`) knows it reads one row."""
        rows = self._ordered(args, "LIMIT 1", [], using)
        return rows[0] if rows else None

    def _page(
        self, args: Sequence[Any], offset: int, limit: int, using: str
    ) -> list[Sequence[Any]]:
        return self._ordered(args, "LIMIT %s OFFSET %s", [limit, offset], using)

    def _ordered(
        self, args: Sequence[Any], limits: str, limit_params: list[Any], using: str
    ) -> list[Sequence[Any]]:
        """The rows of an ordered queryset's SQL followed by `limits`."""
        connection = connections[using]
        compiled = self._compiled_for(connection, using)
        if not compiled.ordered:
            raise ImproperlyConfigured("A page of an unordered queryset.")
        params = [*self._params(connection, compiled, args), *limit_params]
        sql = f"{compiled.sql} {limits}"
        return self._run(connection, compiled, sql, params, self._on_server)

    def _params(
        self, connection: BaseDatabaseWrapper, compiled: _Compiled, args: Sequence[Any]
    ) -> list[Any]:
        return _params(connection, compiled, self._arguments, args)

    @staticmethod
    def _run(
        connection: BaseDatabaseWrapper,
        compiled: _Compiled,
        sql: str,
        params: list[Any],
        prepared: bool = False,
    ) -> list[Sequence[Any]]:
        with connection.cursor() as checked, binding(checked, prepared) as cursor:
            _native_timestamps(connection, cursor.cursor)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            return list(compiled.compiler.apply_converters(rows, compiled.converters))
        return rows

    def _compiled_for(self, connection: BaseDatabaseWrapper, using: str) -> _Compiled:
        compiled = self._compiled.get(connection)
        if compiled is None:
            compiled = self._compiled[connection] = self._compile(connection, using)
        return compiled

    def _compile(self, connection: BaseDatabaseWrapper, using: str) -> _Compiled:
        return _compile(connection, using, self._build, self._arguments)


# The ORDER BY Django writes when each term is a selected column: their positions.
_POSITIONAL_ORDER = re.compile(r" ORDER BY ((?:\d+ (?:ASC|DESC), )*\d+ (?:ASC|DESC))$")
_PLACEHOLDER = re.compile(r"%%|%s")


@dataclass(frozen=True)
class _CompiledTop:
    sql: str
    groups: _Compiled
    rows: _Compiled  # one group's rows: its one argument is the group


class PreparedTopRows(PreparedRows):
    """`PreparedRows` whose first pages are read group by group: for rows that fall in
    groups (a reader's tasks in their projects), ordered as an index of each group
    orders them (a project's tasks by creation).

    `groups(*args)` is a queryset of one column, the key of each group whose rows
    `build(*args)` holds, each once; `one_group(group)` the ordered queryset of one
    group's rows, `group` (an int) compared with a column once. The rows of `build`
    are those of its groups: the caller's promise, which its tests hold. On
    PostgreSQL, a page that ends within the first `top` rows reads at most offset +
    limit rows of each group (a LATERAL join), then the page among them: its cost is
    set by the page and the number of groups, not by the table. A query over every
    group at once scans the order's index across the whole table until the page is
    full, through the rows of groups the reader is not in (bench/RESULTS.md, issue
    26). Deeper pages, and other databases, run `build` as `PreparedRows` does.

    The first pages' statement is prepared on the server (settings: one plan for every
    reader), so its values are bound there: each parameter must take its type from
    where it stands (an int compared with a column, a LIMIT).
    """

    def __init__(
        self,
        build: Callable[..., QuerySet[Any]],
        arguments: Sequence[type],
        *,
        groups: Callable[..., QuerySet[Any]],
        one_group: Callable[[int], QuerySet[Any]],
        top: int,
    ) -> None:
        super().__init__(build, arguments)
        self._groups = groups
        self._one_group = one_group
        self._top = top
        self._compiled_top: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _CompiledTop] = (
            weakref.WeakKeyDictionary()
        )

    def page(
        self, args: Sequence[Any], offset: int, limit: int, using: str = DEFAULT_DB_ALIAS
    ) -> list[Sequence[Any]]:
        connection = connections[using]
        if connection.vendor != "postgresql" or offset + limit > self._top:
            return self._page(args, offset, limit, using)
        compiled = self._compiled_top.get(connection)
        if compiled is None:
            compiled = self._compiled_top[connection] = self._compile_top(connection, using)
        params = [
            *_params(connection, compiled.groups, self._arguments, args),
            *compiled.rows.params,
            offset + limit,
            limit,
            offset,
        ]
        return self._run(connection, compiled.rows, compiled.sql, params, prepared=True)

    def _compile_top(self, connection: BaseDatabaseWrapper, using: str) -> _CompiledTop:
        groups = _compile(connection, using, self._groups, self._arguments)
        if len(groups.compiler.select) != 1:
            raise ImproperlyConfigured("The groups' queryset must select one column.")
        rows = _compile(connection, using, self._one_group, [int])
        order = _POSITIONAL_ORDER.search(rows.sql)
        if order is None:
            raise ImproperlyConfigured("The rows must be ordered by selected columns.")
        (positions,) = rows.slots
        if len(positions) != 1:
            raise ImproperlyConfigured("The group must be compared once.")
        (group,) = positions
        one_group = _with_column(rows.sql, group, '"_groups"."key"')
        # Compiled SQL and placeholders: no value is written into it.
        sql = (
            f'SELECT "_top".* FROM ({groups.sql}) "_groups" ("key")'  # noqa: S608
            f' CROSS JOIN LATERAL ({one_group} LIMIT %s) "_top"'
            f" ORDER BY {order.group(1)} LIMIT %s OFFSET %s"
        )
        # The group is a column now: its parameter goes.
        params = rows.params[:group] + rows.params[group + 1 :]
        return _CompiledTop(sql=sql, groups=groups, rows=replace(rows, params=params))


def _with_column(sql: str, position: int, column: str) -> str:
    """`sql` with its placeholder number `position` (from 0) replaced by `column`."""
    seen = -1
    for found in _PLACEHOLDER.finditer(sql):
        if found.group() == "%s":
            seen += 1
            if seen == position:
                return sql[: found.start()] + column + sql[found.end() :]
    raise ImproperlyConfigured("The SQL has fewer placeholders than its parameters.")


def _compile(
    connection: BaseDatabaseWrapper,
    using: str,
    build: Callable[..., QuerySet[Any]],
    arguments: Sequence[type],
) -> _Compiled:
    markers = [_MARKERS[kind][i] for i, kind in enumerate(arguments)]
    queryset = build(*markers)
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    if compiler.query.is_sliced:
        raise ImproperlyConfigured("The queryset must not be sliced.")
    slots = tuple(
        tuple(i for i, param in enumerate(params) if _is(param, _adapt(connection, marker)))
        for marker in markers
    )
    if not all(slots):
        raise ImproperlyConfigured("An argument is not a parameter of the SQL.")
    expressions = [column for column, _, _ in compiler.select]
    return _Compiled(
        sql=sql,
        params=tuple(params),
        slots=slots,
        ordered=bool(compiler.query.order_by),
        compiler=compiler,
        converters=compiler.get_converters(expressions),
    )


def _params(
    connection: BaseDatabaseWrapper,
    compiled: _Compiled,
    arguments: Sequence[type],
    args: Sequence[Any],
) -> list[Any]:
    """The compiled parameters with each argument's value where its marker was."""
    params = list(compiled.params)
    for slot, kind, value in zip(compiled.slots, arguments, args, strict=True):
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TypeError(f"{value!r} is not a {kind.__name__}.")
        adapted = _adapt(connection, value)
        for position in slot:
            params[position] = adapted
    return params


@contextmanager
def binding(cursor: CursorWrapper, on_server: bool) -> Iterator[CursorWrapper]:
    """`cursor`, or one on its connection that binds on the server, so that psycopg
    prepares its statements (settings: `prepare_threshold`), in Django's wrapper
    (errors, execute wrappers). Not while queries are logged (DEBUG, a test capturing
    them): psycopg keeps no text of a prepared statement's run for the log."""
    if not on_server or cursor.db.vendor != "postgresql" or cursor.db.queries_logged:
        yield cursor
        return
    with type(cursor)(psycopg.Cursor(cursor.cursor.connection), cursor.db) as server:
        yield server


def _adapt(connection: BaseDatabaseWrapper, value: Any) -> Any:
    """`value` as Django passes it to the database in a lookup."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _native_timestamps(connection: BaseDatabaseWrapper, cursor: Any) -> None:
    """psycopg's own `timestamptz` loader (C) on this cursor, where Django's (a Python
    subclass of psycopg's Python loader) parses each value in Python: half of running
    a 20-row page (bench/RESULTS.md). In a session whose time zone is UTC, the one
    Django sets, both give the same aware values, in `datetime.timezone.utc`."""
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    if _TIMESTAMPTZ_LOADER and cursor.connection.info.parameter_status("TimeZone") == "UTC":
        cursor.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)


def _is(param: Any, marker: Any) -> bool:
    # Of the marker's own type, as Django passes it (a datetime's is a str on SQLite).
    return type(param) is type(marker) and param == marker
