"""`tasks_position_after(last)`: `tasks.positions.after(last)` in SQL, for a create
that computes its task's position in the statement that inserts it
(tasks.services.task_create). NULL where `after` would not give a key of WIDTH
characters (past the range, or `last` is no key): the create then takes the way that
computes it in Python. tests/tasks/test_positions.py holds the two to one answer."""

from django.db import migrations

CREATE = """
CREATE FUNCTION tasks_position_after(last text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    alphabet CONSTANT text := '0123456789abcdefghijklmnopqrstuvwxyz';
    number bigint := 0;
    key text := '';
BEGIN
    IF last IS NULL OR last = '' THEN
        RETURN '1000000000';
    END IF;
    IF last !~ '^[0-9a-z]{1,255}$' THEN
        RETURN NULL;
    END IF;
    -- The integer part: the first 10 digits, those past the key's end zeros.
    FOR i IN 1..10 LOOP
        number := number * 36;
        IF i <= length(last) THEN
            number := number + strpos(alphabet, substr(last, i, 1)) - 1;
        END IF;
    END LOOP;
    number := number + 1679616;  -- STEP, 36^4
    IF number >= 3656158440062976 THEN  -- 36^10: past the range
        RETURN NULL;
    END IF;
    FOR i IN 1..10 LOOP
        key := substr(alphabet, (number % 36)::int + 1, 1) || key;
        number := number / 36;
    END LOOP;
    RETURN key;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS tasks_position_after(text)"


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # its `%` is an operator

    return run


class Migration(migrations.Migration):
    dependencies = [("tasks", "0012_lock_for_append_draws_the_id")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
