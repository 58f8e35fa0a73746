"""A page costs a bounded number of queries whatever it holds: objects are read in one
query per type (two for comments: their mentions), never one per change."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from comments.services import comment_create
from projects.models import Project
from projects.services import label_create, member_add, project_create, project_update
from tasks.services import task_update
from tests.factories import TaskFactory
from tests.sync.helpers import Replica, sync_page

pytestmark = pytest.mark.django_db


def counted(client: Any, cursor: str | None) -> tuple[int, dict[str, Any]]:
    with CaptureQueriesContext(connection) as queries:
        body = sync_page(client, cursor)
    return len(queries), body


def changes_of_every_type(actor: User, project: Project, n: int) -> None:
    """n tasks, labels and comments created, n tasks changed, the project changed."""
    tasks = [TaskFactory(owner=actor, project=project) for _ in range(n)]
    for index, task in enumerate(tasks):
        label_create(actor=actor, project_id=project.pk, name=f"L{n}-{index}", color="#123456")
        comment_create(actor=actor, task=task, body=f"@{actor.username} look")
        task_update(actor=actor, task_id=task.pk, data={"status": "completed"})
    project_update(actor=actor, project_id=project.pk, data={"description": f"{n} more"})


def test_a_page_of_changes_costs_the_same_queries_for_4_or_400_changes(
    member, member_client, garden
):
    replica = Replica()
    replica.sync(member_client)
    changes_of_every_type(member, garden, 1)
    few, small = counted(member_client, replica.cursor)
    changes_of_every_type(member, garden, 100)
    many, large = counted(member_client, small["cursor"])

    assert len(small["changes"]) == 4
    assert len(large["changes"]) == 301
    # The oldest and newest event ids, the events, then one query per type.
    assert many == few
    assert few <= 10


def test_a_snapshot_page_costs_the_same_queries_for_few_or_many_objects(
    member, member_client, outsider, outsider_client
):
    alone = project_create(actor=outsider, name="Alone")
    changes_of_every_type(outsider, alone, 1)
    few, small = counted(outsider_client, None)
    crowded = project_create(actor=member, name="Crowded")
    changes_of_every_type(member, crowded, 120)
    many, large = counted(member_client, None)

    assert len(small["changes"]) == 5
    assert len(large["changes"]) == 362
    # Authentication, permissions, the newest event id, one query per stage and
    # whether changes wait after the snapshot.
    assert many == few
    assert few <= 14


def test_a_page_of_a_project_joined_costs_the_same_queries_as_a_snapshot_page(
    member, member_client, outsider, outsider_client
):
    crowded = project_create(actor=member, name="Crowded")
    changes_of_every_type(member, crowded, 50)
    replica = Replica()
    replica.sync(outsider_client)
    member_add(actor=member, project_id=crowded.pk, identifier="oscar", role="member")
    _, joined = counted(outsider_client, replica.cursor)

    queries, contents = counted(outsider_client, joined["cursor"])

    assert len(contents["changes"]) == 151
    # A snapshot page's, and one more to know what the events made visible.
    assert queries <= 10
