"""`GET /api/v1/tasks/export.csv`: the task list's tasks, filters and order, as a
streamed CSV with one header row, usernames and label names."""

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, connections
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from exports import table
from exports.views import TaskExportView
from tasks.models import Task
from tests.factories import PASSWORD, TaskFactory
from tests.helpers import TASKS_URL, assert_error, assert_field_error, result_ids
from tests.projects.helpers import archive
from tests.tasks.collaboration_helpers import make_label

EXPORT_URL = "/api/v1/tasks/export.csv"
HEADER = [
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
]
DUE = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)


def body(response: Any) -> str:
    """The whole streamed body, decoded as its Content-Type says."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content).decode("utf-8")


def rows(response: Any) -> list[dict[str, str]]:
    """The data rows of a 200 export, by column; asserts the header row."""
    reader = csv.reader(io.StringIO(body(response), newline=""))
    header = next(reader)
    assert header == HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def exported_ids(response: Any) -> list[int]:
    return [int(row["id"]) for row in rows(response)]


def listed_ids(client: Any, query: str = "") -> list[int]:
    """Every id the task list answers for `query`, in its order."""
    separator = "&" if query else ""
    return result_ids(client.get(f"{TASKS_URL}?{query}{separator}limit=100"))


def test_a_row_holds_the_tasks_fields_with_names_not_ids(
    member, member_client, other_member, garden
):
    fern, roses = make_label(garden, "fern"), make_label(garden, "Roses")
    parent = TaskFactory(owner=member, project=garden, title="Parent")
    task = TaskFactory(
        owner=member,
        project=garden,
        title="Repot",
        description="Two lines,\nwith a comma",
        priority=Task.Priority.HIGH,
        due_date=DUE,
        assignee=other_member,
        labels=[roses.pk, fern.pk],
        parent=parent.pk,
    )
    shown = member_client.get(f"{TASKS_URL}{task.pk}/").json()

    found = {int(row["id"]): row for row in rows(member_client.get(EXPORT_URL))}

    assert found[task.pk] == {
        "id": str(task.pk),
        "title": "Repot",
        "description": "Two lines,\nwith a comma",
        "status": "pending",
        "priority": "high",
        "due_date": shown["due_date"],
        "completed_at": "",
        "project_id": str(garden.pk),
        "project": "Garden",
        "owner": "mia",
        "assignee": "otto",
        "labels": "fern; Roses",
        "parent_id": str(parent.pk),
        "position": shown["position"],
        "created_at": shown["created_at"],
        "updated_at": shown["updated_at"],
        "version": str(shown["version"]),
    }
    assert found[task.pk]["due_date"] == "2031-03-04T09:30:00Z"
    assert found[parent.pk]["assignee"] == ""
    assert found[parent.pk]["labels"] == ""
    assert found[parent.pk]["parent_id"] == ""


def test_the_export_holds_the_task_lists_tasks_in_its_order(
    member, member_client, other_member, garden, assigned_task, others_task
):
    for i in range(5):
        TaskFactory(owner=other_member if i % 2 else member, project=garden, title=f"G{i}")
    TaskFactory(owner=member, title="Personal")

    exported = exported_ids(member_client.get(EXPORT_URL))

    assert exported == listed_ids(member_client)
    assert assigned_task.pk in exported
    assert others_task.pk not in exported
    assert len(exported) == 7


@pytest.mark.parametrize(
    "query",
    [
        "status=completed",
        "status=pending,in_progress",
        "priority=high",
        "search=roses",
        "due_before=2031-03-05T00:00:00Z",
        "overdue=false",
        "parent=none",
        "ordering=title",
        "ordering=-priority,due_date",
        "include_archived=true",
    ],
)
def test_the_export_takes_the_task_lists_filters(query, member, member_client, garden):
    shed = TaskFactory(owner=member, title="Paint the shed", priority=Task.Priority.LOW)
    TaskFactory(owner=member, project=garden, title="Prune the roses", due_date=DUE)
    TaskFactory(
        owner=member,
        project=garden,
        title="Water",
        status=Task.Status.COMPLETED,
        priority=Task.Priority.HIGH,
    )
    TaskFactory(owner=member, project=garden, title="Weed", status=Task.Status.IN_PROGRESS)
    TaskFactory(owner=member, title="A subtask", parent=shed.pk)
    archived = TaskFactory(owner=member, title="Archived roses")
    archive(archived.project)

    expected = listed_ids(member_client, query)
    exported = exported_ids(member_client.get(f"{EXPORT_URL}?{query}"))

    assert exported == expected
    assert 0 < len(exported) < 6 or query.startswith(("ordering", "include", "overdue"))


def test_the_export_takes_project_and_label_filters(member, member_client, garden):
    label = make_label(garden, "Outdoors")
    tagged = TaskFactory(owner=member, project=garden, labels=[label.pk])
    other = TaskFactory(owner=member, project=garden)
    TaskFactory(owner=member)

    assert exported_ids(member_client.get(f"{EXPORT_URL}?label={label.pk}")) == [tagged.pk]
    by_project = exported_ids(member_client.get(f"{EXPORT_URL}?project={garden.pk}"))
    assert by_project == [other.pk, tagged.pk]


def test_tasks_of_archived_projects_are_left_out_unless_asked_for(member, member_client, garden):
    task = TaskFactory(owner=member, project=garden)
    archive(garden)

    assert exported_ids(member_client.get(EXPORT_URL)) == []
    assert exported_ids(member_client.get(f"{EXPORT_URL}?include_archived=true")) == [task.pk]


def test_a_viewer_of_a_shared_project_exports_its_tasks(viewer, client_for, member, garden):
    task = TaskFactory(owner=member, project=garden)

    assert exported_ids(client_for(viewer).get(EXPORT_URL)) == [task.pk]


def test_an_outsider_exports_the_header_only(outsider, client_for, member, garden):
    TaskFactory(owner=member, project=garden)

    assert exported_ids(client_for(outsider).get(EXPORT_URL)) == []


def test_a_manager_exports_every_task(manager_client, task, others_task, assigned_task):
    exported = exported_ids(manager_client.get(EXPORT_URL))

    assert set(exported) == {task.pk, others_task.pk, assigned_task.pk}


def test_the_export_needs_authentication(db):
    assert_error(APIClient().get(EXPORT_URL), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("stauts=done", "stauts"),
        ("limit=5", "limit"),
        ("status=done", "status"),
        ("due_before=2031-03-05T00:00:00", "due_before"),
        ("ordering=owner", "ordering"),
        ("project=abc", "project"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(query, field, member_client):
    response = member_client.get(f"{EXPORT_URL}?{query}")

    assert response["Content-Type"] == "application/json"
    assert_field_error(response, field)


def test_a_client_accepting_csv_only_gets_its_errors_in_json(db):
    response = APIClient().get(EXPORT_URL, HTTP_ACCEPT="text/csv")

    assert_error(response, 401, "not_authenticated")


def test_a_client_accepting_csv_only_gets_the_csv(member_client, task):
    response = member_client.get(EXPORT_URL, HTTP_ACCEPT="text/csv")

    assert exported_ids(response) == [task.pk]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_a_spreadsheet_would_run_as_a_formula_is_made_text(
    start, member, member_client, garden
):
    formula = f'{start}HYPERLINK("http://evil.example","x")'
    label = make_label(garden, f"{start}label")
    TaskFactory(owner=member, project=garden, title=formula, description=formula, labels=[label.pk])

    (row,) = rows(member_client.get(EXPORT_URL))

    assert row["title"] == f"'{formula}"
    assert row["description"] == f"'{formula}"
    assert row["labels"] == f"'{start}label"


def test_a_cell_with_a_formula_sign_inside_is_left_alone(member, member_client):
    TaskFactory(owner=member, title="1+1=2 @home", description="a - b")

    (row,) = rows(member_client.get(EXPORT_URL))

    assert (row["title"], row["description"]) == ("1+1=2 @home", "a - b")


def test_unicode_titles_come_out_as_utf_8(member, member_client):
    title = "Café ☕ 日本語の仕事 — ñ 🌱"
    TaskFactory(owner=member, title=title, description="Zürich\r\nŁódź")

    response = member_client.get(EXPORT_URL)
    (row,) = rows(response)

    assert row["title"] == title
    assert row["description"] == "Zürich\r\nŁódź"


def test_the_export_is_an_attachment_that_no_cache_keeps(member_client, task):
    response = member_client.get(EXPORT_URL)

    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="tasks-')
    assert disposition.endswith('.csv"')
    assert "no-store" in response["Cache-Control"]
    assert "X-RateLimit-Remaining" in response


def test_the_export_is_streamed_chunk_by_chunk(member, member_client, monkeypatch):
    monkeypatch.setattr(table, "CHUNK_BYTES", 200)
    monkeypatch.setattr(table, "ROWS_PER_QUERY", 7)
    for i in range(30):
        TaskFactory(owner=member, title=f"Task number {i:02}", description="x" * 40)

    response = member_client.get(EXPORT_URL)

    assert isinstance(response, StreamingHttpResponse)
    assert response.streaming
    assert not response.has_header("Content-Length")
    chunks = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as first_read:
        first = next(chunks)
    # The first chunk is written before the rows past the first query's are read.
    assert first.startswith(b"id,title,")
    assert len(first) < 1000
    assert sum("projects_label" in q["sql"] for q in first_read.captured_queries) == 1
    rest = list(chunks)
    assert len(rest) > 5
    assert exported_ids_of(first + b"".join(rest)) == listed_ids(member_client)


def exported_ids_of(content: bytes) -> list[int]:
    reader = csv.reader(io.StringIO(content.decode(), newline=""))
    assert next(reader) == HEADER
    return [int(row[0]) for row in reader]


def test_the_export_reads_one_label_query_per_chunk_of_rows(
    member, member_client, garden, monkeypatch
):
    monkeypatch.setattr(table, "ROWS_PER_QUERY", 10)
    labels = [make_label(garden, f"L{i}").pk for i in range(3)]
    for i in range(45):
        TaskFactory(owner=member, project=garden, labels=labels[: i % 4], assignee=None)
    response = member_client.get(EXPORT_URL)

    with CaptureQueriesContext(connection) as queries:
        content = b"".join(response.streaming_content)

    assert len(exported_ids_of(content)) == 45
    sql = [q["sql"] for q in queries.captured_queries]
    # The tasks (with project, owner and assignee joined): one query, read in chunks;
    # their labels: one query per chunk of 10 rows.
    assert sum("projects_label" in s for s in sql) == 5
    assert len(sql) <= 6 + 2  # and at most a savepoint or two around them


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_under_asgi_the_export_is_streamed_too(monkeypatch):
    # `make run` serves HTTP through ASGI, where Django would read a synchronous
    # iterator whole before sending any of it.
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    from tests.factories import UserFactory
    from tests.helpers import LOGIN_URL

    monkeypatch.setattr(table, "CHUNK_BYTES", 200)

    def arrange() -> tuple[str, list[int]]:
        user = UserFactory(username="asa")
        ids = [TaskFactory(owner=user, title=f"Task {i}").pk for i in range(20)]
        login = APIClient().post(LOGIN_URL, {"username": "asa", "password": PASSWORD})
        return login.json()["access"], ids[::-1]

    access, newest_first = await sync_to_async(arrange)()

    response = await AsyncClient().get(EXPORT_URL, headers={"Authorization": f"Bearer {access}"})

    assert response.status_code == 200
    assert response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    # The request's thread keeps its connection: closed, as a server's would be.
    await sync_to_async(connections.close_all)()
    assert len(chunks) > 3
    assert exported_ids_of(b"".join(chunks)) == newest_first


def test_a_head_request_reads_no_rows(member, task):
    # Through the view itself: the test client drops a HEAD's body unread, where a
    # WSGI server would read it all first.
    request = APIRequestFactory().head(EXPORT_URL)
    force_authenticate(request, user=member)

    with CaptureQueriesContext(connection) as queries:
        response = TaskExportView.as_view()(request)
        content = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert content == b""
    assert not any('FROM "tasks_task"' in q["sql"] for q in queries.captured_queries)
