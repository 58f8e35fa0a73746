"""What a write through the API asks the database. An update reads its task once (the
view's checks) and writes it on condition that it is still that version; a delete
reads it, then locks it in the service. Nothing is read back."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.helpers import task_url

pytestmark = pytest.mark.django_db


def task_reads(captured: CaptureQueriesContext) -> list[str]:
    selects = (query["sql"] for query in captured.captured_queries)
    return [sql for sql in selects if sql.startswith("SELECT") and 'FROM "tasks_task"' in sql]


def task_updates(captured: CaptureQueriesContext) -> list[str]:
    """The statements that update tasks, alone or with their event (`WITH ... AS (UPDATE`)."""
    sqls = (query["sql"] for query in captured.captured_queries)
    return [sql for sql in sqls if 'UPDATE "tasks_task"' in sql]


@pytest.mark.parametrize(
    "method, body", [("patch", {"status": "completed"}), ("put", {"title": "New"})]
)
def test_an_update_reads_its_task_once_and_writes_it_on_that_version(
    method, body, member_client, task
):
    with CaptureQueriesContext(connection) as captured:
        response = getattr(member_client, method)(task_url(task), body, format="json")

    assert response.status_code == 200, response.content
    reads = task_reads(captured)
    assert len(reads) == 1, reads
    assert "FOR UPDATE" not in reads[0]
    (update,) = task_updates(captured)
    assert '"version" = ' in update.split("WHERE", 1)[1], update


def test_a_delete_reads_its_task_then_locks_it(member_client, task):
    with CaptureQueriesContext(connection) as captured:
        response = member_client.delete(task_url(task))

    assert response.status_code == 204, response.content
    reads = task_reads(captured)
    assert len(reads) == 2, reads
    if connection.vendor == "postgresql":
        assert reads[1].rstrip().endswith("FOR UPDATE"), reads[1]


def test_a_write_is_not_read_back(member_client, task):
    with CaptureQueriesContext(connection) as captured:
        response = member_client.patch(task_url(task), {"status": "completed"}, format="json")

    assert response.json()["version"] == task.version + 1
    assert response.json()["completed_at"] is not None
    task.refresh_from_db()
    assert response.json()["version"] == task.version
    assert response.json()["completed_at"] == task.completed_at.isoformat().replace("+00:00", "Z")
    assert len(task_reads(captured)) == 1


@pytest.fixture
def changed_after_the_read(monkeypatch):
    """Another writer changes the title between the view's read and the write."""
    from tasks import services
    from tasks.models import Task

    real_apply = services._apply

    def apply_after_a_concurrent_change(actor, current, values, if_match, *, conditional):
        if conditional:
            Task.objects.filter(pk=current.pk).update(title="Theirs", version=current.version + 1)
        return real_apply(actor, current, values, if_match, conditional=conditional)

    monkeypatch.setattr(services, "_apply", apply_after_a_concurrent_change)


@pytest.mark.usefixtures("changed_after_the_read")
def test_an_update_of_a_task_changed_since_the_views_read_is_made_on_the_current_row(
    member_client, task
):
    # The conditional write finds another version: the change is made on the locked row.
    response = member_client.patch(task_url(task), {"status": "completed"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["status"]) == ("Theirs", "completed")
    assert response.json()["version"] == task.version + 2
    task.refresh_from_db()
    assert (task.title, task.status) == ("Theirs", "completed")
    assert task.version == response.json()["version"]


@pytest.mark.usefixtures("changed_after_the_read")
def test_a_stale_if_match_found_at_the_write_is_a_412(member_client, task):
    response = member_client.patch(
        task_url(task), {"status": "completed"}, format="json", HTTP_IF_MATCH=f'"{task.pk}-1"'
    )

    assert response.status_code == 412, response.content
    task.refresh_from_db()
    # (The stand-in concurrent change ran in this request's transaction: rolled back too.)
    assert task.status == "pending"


# Not in a test transaction: the service's own is then the outermost.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_write_takes_no_savepoint(member_client, task):
    with CaptureQueriesContext(connection) as captured:
        member_client.patch(task_url(task), {"title": "New"}, format="json")

    assert not [q for q in captured.captured_queries if "SAVEPOINT" in q["sql"]]
