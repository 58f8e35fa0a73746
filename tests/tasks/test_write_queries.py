"""What a write through the API asks the database: the view reads the task once (who
may see and change it, its preconditions, the echoed fields), the service locks it
once in its own transaction, and nothing reads it back."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.helpers import task_url

pytestmark = pytest.mark.django_db


def task_reads(captured: CaptureQueriesContext) -> list[str]:
    selects = (query["sql"] for query in captured.captured_queries)
    return [sql for sql in selects if sql.startswith("SELECT") and 'FROM "tasks_task"' in sql]


@pytest.mark.parametrize(
    "method, body",
    [("patch", {"status": "completed"}), ("put", {"title": "New"}), ("delete", None)],
)
def test_a_write_reads_its_task_once_then_locks_it_once(method, body, member_client, task):
    with CaptureQueriesContext(connection) as captured:
        response = getattr(member_client, method)(task_url(task), body, format="json")

    assert response.status_code in (200, 204), response.content
    reads = task_reads(captured)
    assert len(reads) == 2, reads
    assert "FOR UPDATE" not in reads[0]
    if connection.vendor == "postgresql":
        assert reads[1].rstrip().endswith("FOR UPDATE"), reads[1]


def test_a_write_after_the_lock_is_not_read_back(member_client, task):
    with CaptureQueriesContext(connection) as captured:
        response = member_client.patch(task_url(task), {"status": "completed"}, format="json")

    assert response.json()["version"] == task.version + 1
    assert response.json()["completed_at"] is not None
    task.refresh_from_db()
    assert response.json()["version"] == task.version
    assert len(task_reads(captured)) == 2


# Not in a test transaction: the service's own is then the outermost.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_write_takes_no_savepoint(member_client, task):
    with CaptureQueriesContext(connection) as captured:
        member_client.patch(task_url(task), {"title": "New"}, format="json")

    assert not [q for q in captured.captured_queries if "SAVEPOINT" in q["sql"]]
