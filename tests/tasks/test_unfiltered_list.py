"""The task list without filters runs SQL compiled once (tasks.listing), with the
reader's id: it answers what the queryset path answers, for every reader and page."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from taskmanager.prepared import PreparedRows, PreparedTopRows
from tasks import listing
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.helpers import TASKS_URL, page
from tests.projects.helpers import archive, new_project
from tests.tasks.helpers import STATS_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks_around(member, other_member):
    """Mia's own tasks, tasks of a project she shares with Otto, of an archived project
    of theirs, and Otto's own: each reader sees a different part."""
    shared = new_project(other_member, "Orchard", (member, "viewer"))
    archived = new_project(member, "Old orchard", (other_member, "member"))
    for n in range(4):
        TaskFactory(owner=member, title=f"mine {n}")
    for n in range(3):
        TaskFactory(owner=other_member, project=shared, title=f"shared {n}", description="x")
    for n in range(2):
        TaskFactory(owner=member, project=archived, title=f"archived {n}")
        TaskFactory(owner=other_member, title=f"otto's {n}")
    # For the statistics: overdue, due later, and completed, in each part.
    now = timezone.now()
    for owner, project in ((member, None), (other_member, shared), (member, archived)):
        for status, days in (
            ("pending", -2),
            ("in_progress", 3),
            ("completed", -1),
            ("completed", 5),
        ):
            due = now + timedelta(days=days)
            TaskFactory(owner=owner, project=project, status=status, priority="high", due_date=due)
    archive(archived)


@pytest.fixture
def prepared(monkeypatch):
    """What the prepared SQL answered: its pages (`page`) and whole results (`rows`)."""
    calls: dict[str, list[Any]] = {"page": [], "rows": []}
    for kind, name in ((PreparedRows, "page"), (PreparedTopRows, "page"), (PreparedRows, "rows")):
        original = getattr(kind, name)

        def counting(self: PreparedRows, *args: Any, _run=original, _made=calls[name], **kwargs):
            _made.append(args)
            return _run(self, *args, **kwargs)

        monkeypatch.setattr(kind, name, counting)
    return calls


@pytest.mark.parametrize(
    "client_name", ["member_client", "other_member_client", "manager_client", "admin_client"]
)
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"limit": 3},
        {"limit": 3, "offset": 2},
        {"offset": 6},
        {"offset": 50},
    ],
)
def test_the_list_without_filters_answers_what_the_filtered_path_answers(
    request, client_name, params, tasks_around, prepared
):
    client = request.getfixturevalue(client_name)

    unfiltered = page(client.get(TASKS_URL, params))
    pages_read = len(prepared["page"])
    # `include_archived=false` is the default: the same tasks, through the queryset.
    filtered = page(client.get(TASKS_URL, {**params, "include_archived": "false"}))

    assert unfiltered["results"] == filtered["results"]
    assert unfiltered["count"] == filtered["count"]
    assert unfiltered["count"] > 0
    if params.get("offset", 0) < unfiltered["count"]:
        assert unfiltered["results"], "a page before the end holds tasks"
        assert pages_read == 1 and len(prepared["page"]) == 1
    else:
        assert unfiltered["results"] == []


@pytest.mark.parametrize("client_name", ["member_client", "other_member_client"])
@pytest.mark.parametrize(("offset", "limit"), [(0, 4), (2, 2), (3, 2), (4, 3), (7, 20)])
def test_pages_within_and_past_the_first_rows_are_the_filtered_paths(
    request, monkeypatch, client_name, tasks_around, offset, limit
):
    """The first rows are read project by project (PostgreSQL), the rest by the join:
    with the first rows cut to 4 here, both meet in these pages."""
    monkeypatch.setattr(listing._OF_MEMBER, "_top", 4)
    client = request.getfixturevalue(client_name)
    params = {"offset": offset, "limit": limit}

    unfiltered = page(client.get(TASKS_URL, params))
    filtered = page(client.get(TASKS_URL, {**params, "include_archived": "false"}))

    assert unfiltered["results"] == filtered["results"]
    assert unfiltered["results"], "each page holds tasks"


@pytest.mark.parametrize(
    "client_name", ["member_client", "other_member_client", "manager_client", "admin_client"]
)
def test_statistics_without_filters_are_what_the_filtered_path_counts(
    request, client_name, tasks_around, prepared
):
    client = request.getfixturevalue(client_name)

    unfiltered = client.get(STATS_URL)
    assert len(prepared["rows"]) == 1
    # `include_archived=false` is the default: the same tasks, through the queryset.
    filtered = client.get(STATS_URL, {"include_archived": "false"})

    assert unfiltered.status_code == filtered.status_code == 200
    assert unfiltered.json() == filtered.json()
    assert unfiltered.json()["total"] > 0
    assert len(prepared["rows"]) == 1


def test_statistics_readers_in_turn_each_count_their_own(
    client_for, member, other_member, tasks_around
):
    for reader, total, overdue in ((member, 15, 2), (other_member, 9, 1), (member, 15, 2)):
        figures = client_for(reader).get(STATS_URL).json()

        visible = Task.objects.filter(project__memberships__user=reader, project__is_archived=False)
        assert figures["total"] == visible.count() == total
        assert figures["overdue"] == overdue
        assert figures["by_priority"]["high"] == visible.filter(priority="high").count()


def test_readers_in_turn_each_get_their_own_tasks(client_for, member, other_member, tasks_around):
    """The SQL is shared by every reader; the id in it is each reader's own."""
    readers = [member, other_member, UserFactory(username="nobody"), member]
    for reader in readers:
        expected = set(
            Task.objects.filter(
                project__memberships__user=reader, project__is_archived=False
            ).values_list("id", flat=True)
        )
        listed = page(client_for(reader).get(TASKS_URL, {"limit": 100}))

        assert {task["id"] for task in listed["results"]} == expected
        assert listed["count"] == len(expected)
    assert expected, "Mia sees tasks"


def test_a_filter_or_an_ordering_takes_the_queryset_path(member_client, tasks_around, prepared):
    for params in ({"ordering": "title"}, {"status": "pending"}, {"include_archived": "true"}):
        assert member_client.get(TASKS_URL, params).status_code == 200

    assert prepared["page"] == []
    titles = [
        t["title"] for t in page(member_client.get(TASKS_URL, {"ordering": "title"}))["results"]
    ]
    assert titles == sorted(titles)


def test_the_rows_are_the_tasks_as_the_detail_writes_them(member_client, tasks_around):
    listed = page(member_client.get(TASKS_URL))["results"]

    for task in listed:
        assert member_client.get(f"{TASKS_URL}{task['id']}/").json() == task


def test_pages_in_turn_are_the_querysets_slices(member, tasks_around):
    first = listing.UnfilteredRows(member)[0:2]
    again = listing.UnfilteredRows(member)[2:4]

    assert [row.title for row in first + again] == list(
        Task.objects.filter(project__memberships__user=member, project__is_archived=False)
        .order_by("-created_at", "-id")
        .values_list("title", flat=True)[0:4]
    )
