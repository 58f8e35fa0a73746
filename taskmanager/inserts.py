"""A model's row inserted by SQL written once.

`Model.objects.create` builds an insert query and compiles it on every call: for a
task's create that was about a tenth of the request's CPU (bench/RESULTS.md, issue
26), for a statement whose text never changes. `RowInsert` writes the statement once
per database alias from the model's fields and fills in the values as Django's own
insert does (each field's `pre_save`, then `get_db_prep_save`).
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import AutoField, BigAutoField, Field, Model, SmallAutoField

# `{table}`, `{columns}`, `{values}` and `{pk}` are filled in from the model.
PLAIN = "INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"


class RowInsert:
    """Insert an unsaved instance of `model`, every concrete field but its auto
    primary key, by `template`; the new key is set on the instance. `template` may
    add placeholders after `{values}`: their parameters are `run`'s `extra`."""

    def __init__(self, model: type[Model], template: str = PLAIN) -> None:
        self._model = model
        self._template = template
        self._statements: dict[str, tuple[list[Field[Any, Any]], str]] = {}

    def run(self, instance: Model, *extra: Any, using: str = DEFAULT_DB_ALIAS) -> None:
        connection = connections[using]
        if not connection.features.can_return_columns_from_insert:
            if self._template is not PLAIN:
                raise ImproperlyConfigured("The database returns no columns of an insert.")
            # An SQLite older than 3.35.
            instance.save(force_insert=True, using=using)
            return
        fields, sql = self._statement(using)
        values = [
            field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*values, *extra])
            (instance.pk,) = cursor.fetchone()
        instance._state.adding = False
        instance._state.db = using

    def _statement(self, using: str) -> tuple[list[Field[Any, Any]], str]:
        statement = self._statements.get(using)
        if statement is None:
            meta = self._model._meta
            if not isinstance(meta.pk, AutoField | BigAutoField | SmallAutoField):
                raise ImproperlyConfigured("RowInsert leaves out the key: it must be drawn.")
            fields = [field for field in meta.concrete_fields if not field.primary_key]
            quote = connections[using].ops.quote_name
            # Names from the model, values as parameters.
            sql = self._template.format(
                table=quote(meta.db_table),
                columns=", ".join(quote(field.column) for field in fields),
                values=", ".join(["%s"] * len(fields)),
                pk=quote(meta.pk.column),
            )
            statement = self._statements[using] = (fields, sql)
        return statement
