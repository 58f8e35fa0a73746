"""What a write through the API asks the database: the task is read once, locked."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks.services import task_delete, task_update
from tests.tasks.conftest import task_url

pytestmark = pytest.mark.django_db


def task_reads(captured: CaptureQueriesContext) -> list[str]:
    selects = (query["sql"] for query in captured.captured_queries)
    return [sql for sql in selects if sql.startswith("SELECT") and 'FROM "tasks_task"' in sql]


@pytest.mark.parametrize(
    "method, body",
    [("patch", {"status": "completed"}), ("put", {"title": "New"}), ("delete", None)],
)
def test_a_write_reads_its_task_once_with_the_row_locked(method, body, member_client, task):
    with CaptureQueriesContext(connection) as captured:
        response = getattr(member_client, method)(task_url(task), body, format="json")

    assert response.status_code in (200, 204), response.content
    reads = task_reads(captured)
    assert len(reads) == 1, reads
    if connection.vendor == "postgresql":
        assert reads[0].rstrip().endswith('FOR UPDATE OF "tasks_task"'), reads[0]


def test_a_write_after_the_lock_is_not_read_back(member_client, task):
    with CaptureQueriesContext(connection) as captured:
        response = member_client.patch(task_url(task), {"status": "completed"}, format="json")

    assert response.json()["version"] == task.version + 1
    assert response.json()["completed_at"] is not None
    task.refresh_from_db()
    assert response.json()["version"] == task.version
    assert len(task_reads(captured)) == 1


# Not in a test transaction: the guard looks for the caller's.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("service", [task_update, task_delete])
def test_a_service_told_the_task_is_locked_needs_the_transaction_that_locked_it(
    service, member, task
):
    extra = {"data": {"title": "New"}} if service is task_update else {}

    with pytest.raises(RuntimeError):
        service(actor=member, task=task, locked=True, **extra)
