"""A model's row inserted or updated by SQL written once.

`Model.objects.create` and `QuerySet.update` build a query and compile it on every
call: for a task's create or PATCH that was about a tenth of the request's CPU
(bench/RESULTS.md, issue 26), for statements whose text depends only on which
columns are written. `RowInsert` and `RowUpdate` write each statement once per
database alias (and columns) from the model's fields and fill in the values as
Django's own insert and update do (`get_db_prep_save`; an insert calls each field's
`pre_save` first). On PostgreSQL they are bound and prepared on the server
(`taskmanager.prepared.binding`): parsed and planned once per connection, where a
statement sent as text was parsed and planned each time (a third of PostgreSQL's CPU
for a PATCH; bench/RESULTS.md, "The writes, fourth pass"). Each parameter takes its
type from the column it is written to or compared with.
"""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import AutoField, BigAutoField, Field, Model, SmallAutoField

from taskmanager.prepared import binding

# `{table}`, `{columns}`, `{values}` and `{pk}` are filled in from the model; `{pk}`
# is the key's column, then those of the fields `computed` (RowInsert), read back.
PLAIN = "INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"


# A statement and its parameters.
Statement = tuple[str, list[Any]]


class RowInsert:
    """Insert an unsaved instance of `model`, every concrete field but its auto
    primary key, by `template`; the new key is set on the instance. `template` may
    add placeholders after `{values}`: their parameters are `run`'s `extra`, and
    `run`'s `before` (a `WITH` clause) goes before it. `keyed`: the key too, drawn
    beforehand and set on the instance. `computed`: SQL expressions for some fields
    (by attribute name; the key too), in which `%s` stands for the instance's value,
    sent only where it appears: values drawn in the statement itself."""

    def __init__(
        self,
        model: type[Model],
        template: str = PLAIN,
        *,
        keyed: bool = False,
        computed: dict[str, str] | None = None,
    ) -> None:
        self._model = model
        self._template = template
        self._keyed = keyed
        self._computed = computed or {}
        self._statements: dict[str, _Insert] = {}

    def run(
        self,
        instance: Model,
        *extra: Any,
        before: Statement | None = None,
        using: str = DEFAULT_DB_ALIAS,
    ) -> bool:
        """Whether the row was inserted: a template may select no row."""
        connection = connections[using]
        if not connection.features.can_return_columns_from_insert:
            if self._template is not PLAIN or before is not None:
                raise ImproperlyConfigured("The database returns no columns of an insert.")
            # An SQLite older than 3.35.
            instance.save(force_insert=True, using=using)
            return True
        sql, values = self.statement(instance, using)
        params = [*values, *extra]
        if before is not None:
            sql, params = f"{before[0]} {sql}", [*before[1], *params]
        with connection.cursor() as checked, binding(checked, on_server=True) as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return False
        instance.pk, *computed = row
        for field, value in zip(self._statement(using).read, computed, strict=True):
            from_db = getattr(field, "from_db_value", None)
            setattr(instance, field.attname, from_db(value, None, connection) if from_db else value)
        saved(instance, using)
        return True

    def statement(self, instance: Model, using: str = DEFAULT_DB_ALIAS) -> Statement:
        """The insert of `instance` (each field's `pre_save` applied to it), not run:
        once it is, `saved(instance)`."""
        insert = self._statement(using)
        connection = connections[using]
        return insert.sql, [
            field.get_db_prep_save(field.pre_save(instance, True), connection)
            for field in insert.sent
        ]

    def _statement(self, using: str) -> "_Insert":
        statement = self._statements.get(using)
        if statement is None:
            meta = self._model._meta
            if not isinstance(meta.pk, AutoField | BigAutoField | SmallAutoField):
                raise ImproperlyConfigured("RowInsert leaves out the key: it must be drawn.")
            columns = [
                field
                for field in meta.concrete_fields
                if self._keyed or not field.primary_key or field.attname in self._computed
            ]
            values = [self._computed.get(field.attname, "%s") for field in columns]
            read = [
                field
                for field in columns
                if field.attname in self._computed and not field.primary_key
            ]
            quote = connections[using].ops.quote_name
            # Names from the model, values as parameters.
            sql = self._template.format(
                table=quote(meta.db_table),
                columns=", ".join(quote(field.column) for field in columns),
                values=", ".join(values),
                pk=", ".join(quote(field.column) for field in [meta.pk, *read]),
            )
            statement = self._statements[using] = _Insert(
                sql=sql,
                # Those whose values are sent, in the order of their placeholders.
                sent=[field for field, value in zip(columns, values, strict=True) if "%s" in value],
                read=read,
            )
        return statement


@dataclass(frozen=True)
class _Insert:
    sql: str
    sent: list[Field[Any, Any]]
    read: list[Field[Any, Any]]


def saved(instance: Model, using: str = DEFAULT_DB_ALIAS) -> None:
    """`instance` is a row of the database `using` now (as `save()` leaves it)."""
    instance._state.adding = False
    instance._state.db = using


class RowUpdate:
    """Set columns of the rows of `model` whose columns equal the given values (the
    key, a version): `QuerySet.filter(**where).update(**values)` for plain values
    (no expressions; no NULL in `where`), by attribute names (`project_id`). How many
    rows it changed."""

    def __init__(self, model: type[Model]) -> None:
        self._model = model
        self._statements: dict[tuple[str, tuple[str, ...], tuple[str, ...]], _Update] = {}

    def run(
        self, values: dict[str, Any], where: dict[str, Any], using: str = DEFAULT_DB_ALIAS
    ) -> int:
        sql, params = self._bound(values, where, using)
        connection = connections[using]
        with connection.cursor() as checked, binding(checked, on_server=True) as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def returning_key(
        self, values: dict[str, Any], where: dict[str, Any], using: str = DEFAULT_DB_ALIAS
    ) -> Statement:
        """The update, not run, returning the key of each row it changes (for a
        statement that goes on with those rows)."""
        sql, params = self._bound(values, where, using)
        quote = connections[using].ops.quote_name
        return f"{sql} RETURNING {quote(self._model._meta.pk.column)}", params

    def _bound(self, values: dict[str, Any], where: dict[str, Any], using: str) -> Statement:
        if not values or not where:
            raise ValueError("An update sets and selects by at least one column each.")
        if any(hasattr(value, "resolve_expression") for value in values.values()):
            raise TypeError("Plain values only: the ORM's update resolves expressions.")
        if any(value is None for value in where.values()):
            raise TypeError("A column equals no NULL: the ORM's filter says IS NULL.")
        connection = connections[using]
        # Sorted: as many statements as sets of columns, whatever order they come in.
        key = (using, tuple(sorted(values)), tuple(sorted(where)))
        update = self._statements.get(key)
        if update is None:
            update = self._statements[key] = self._update(using, key[1], key[2])
        params = [
            *(field.get_db_prep_save(values[field.attname], connection) for field in update.set),
            *(
                field.get_db_prep_value(where[field.attname], connection, prepared=False)
                for field in update.where
            ),
        ]
        return update.sql, params

    def _update(self, using: str, values: tuple[str, ...], where: tuple[str, ...]) -> "_Update":
        meta = self._model._meta
        fields = {field.attname: field for field in meta.concrete_fields}
        if not set(values) | set(where) <= fields.keys():
            raise ImproperlyConfigured("Columns are named by their fields' attributes.")
        quote = connections[using].ops.quote_name
        assignments = ", ".join(f"{quote(fields[name].column)} = %s" for name in values)
        conditions = " AND ".join(f"{quote(fields[name].column)} = %s" for name in where)
        return _Update(
            sql=f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}",  # noqa: S608
            set=[fields[name] for name in values],
            where=[fields[name] for name in where],
        )


@dataclass(frozen=True)
class _Update:
    sql: str
    set: list[Field[Any, Any]]
    where: list[Field[Any, Any]]
