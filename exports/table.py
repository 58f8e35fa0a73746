"""The CSV export's rows: one header row, then a row per task, written in chunks of
about `CHUNK_BYTES` so that a response streams them as they are read."""

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from django.db.models import QuerySet

from exports.selectors import label_names_of
from tasks.models import Task

# The header row, in order (docs/calendar-and-export.md describes each column): the
# selector's EXPORT_FIELDS with the labels after the assignee.
COLUMNS = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "completed_at",
    "project_id",
    "project",
    "owner",
    "assignee",
    "labels",
    "parent_id",
    "position",
    "created_at",
    "updated_at",
    "version",
)
# Between the label names of a task, sorted by name.
LABEL_SEPARATOR = "; "
# Rows read from the database at a time, and one query for their labels.
ROWS_PER_QUERY = 2000
# Bytes gathered before a chunk is handed to the server.
CHUNK_BYTES = 64 * 1024

# A spreadsheet reads a cell starting with one of these as a formula (OWASP's CSV
# injection): such a cell gets a leading apostrophe, which makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LABELS_AT = COLUMNS.index("labels")


class _Line:
    """csv.writer's file: `writerow` returns the line it wrote."""

    def write(self, line: str) -> str:
        return line


def safe_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _text(value: Any) -> str:
    """A cell as the API writes the value: ISO 8601 in UTC with "Z" (DRF's
    DateTimeField, without its cost per call), nothing for null."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return str(value)


def csv_chunks(rows: QuerySet[Task, tuple[Any, ...]]) -> Iterator[bytes]:
    """The CSV of `rows` (exports.selectors.tasks_for_export) in UTF-8, the header
    first. Reads `ROWS_PER_QUERY` rows at a time (a server-side cursor on
    PostgreSQL) and their labels in one query: memory stays flat whatever the
    number of rows, and the queries are one per chunk."""
    writer = csv.writer(_Line())
    lines = [writer.writerow(COLUMNS)]
    size = len(lines[0])
    read = rows.iterator(chunk_size=ROWS_PER_QUERY)
    while chunk := list(islice(read, ROWS_PER_QUERY)):
        labels = label_names_of([row[0] for row in chunk])
        for row in chunk:
            cells = [_text(value) for value in row]
            cells.insert(_LABELS_AT, LABEL_SEPARATOR.join(labels.get(row[0], ())))
            line = writer.writerow([safe_cell(cell) for cell in cells])
            lines.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield "".join(lines).encode()
                lines, size = [], 0
    if lines:
        yield "".join(lines).encode()
