"""A page of tasks (or events) costs the same number of queries for 2 rows as for 30."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks.services import task_update
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import FEED_URL, TASKS_URL, page

pytestmark = pytest.mark.django_db


def make_tasks(owner, others, count):
    """`count` tasks visible to `owner`: owned or assigned, with and without assignees
    (in her personal project and in the shared projects of `others`)."""
    made = []
    for n in range(count):
        other = others[n % len(others)]
        if n % 3 == 0:
            made.append(TaskFactory(owner=owner, title=f"solo {n}"))
        elif n % 3 == 1:
            made.append(TaskFactory(owner=owner, assignee=other, title=f"delegated {n}"))
        else:
            made.append(TaskFactory(owner=other, assignee=owner, title=f"assigned {n}"))
    return made


def queries_for(client, url, params):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    return len(captured), page(response)


@pytest.fixture
def others(member, other_member, manager):
    """Users who share projects with Mia both ways, from the start: the tasks made
    between two measurements change no membership (a change of membership makes
    the next list read the reader's projects afresh: one query, once)."""
    users = [other_member, manager, UserFactory()]
    for user in users:
        shared_project(member, user)
        shared_project(user, member)
    return users


def written(committed, *args):
    """`make_tasks`, committed: the caches learn of the writes as after a request."""
    with committed():
        return make_tasks(*args)


@pytest.mark.parametrize("client_name", ["member_client", "manager_client"])
def test_task_list_queries_do_not_grow_with_the_page_size(
    request, client_name, member, others, committed, django_assert_num_queries
):
    client = request.getfixturevalue(client_name)
    written(committed, member, others, 2)
    # Warms the caches after the writes (authentication, what the list keeps beside
    # its pages); each measured call differs in its ordering so the list cache cannot
    # answer it.
    assert client.get(TASKS_URL, {"ordering": "created_at"}).status_code == 200
    small_count, small = queries_for(client, TASKS_URL, {"limit": 100, "ordering": "title"})
    assert small["count"] == 2
    written(committed, member, others, 28)
    assert client.get(TASKS_URL, {"ordering": "-created_at"}).status_code == 200

    with django_assert_num_queries(small_count):
        response = client.get(TASKS_URL, {"limit": 100, "ordering": "-title"})

    assert len(page(response)["results"]) == 30
    assert page(response)["count"] == 30


def test_filtered_task_list_queries_do_not_grow_with_the_page_size(
    member_client, member, others, committed, django_assert_num_queries
):
    params = {"limit": 100, "status": "pending", "priority": "medium", "search": "solo"}
    written(committed, member, others, 2)
    assert member_client.get(TASKS_URL, {**params, "ordering": "created_at"}).status_code == 200
    small_count, small = queries_for(member_client, TASKS_URL, {**params, "ordering": "title"})
    assert small["count"] == 1
    written(committed, member, others, 28)
    assert member_client.get(TASKS_URL, {**params, "ordering": "-created_at"}).status_code == 200

    with django_assert_num_queries(small_count):
        response = member_client.get(TASKS_URL, {**params, "ordering": "-title"})

    assert page(response)["count"] == 11


def test_event_feed_queries_do_not_grow_with_the_page_size(
    member_client, member, others, django_assert_num_queries
):
    tasks = make_tasks(member, others, 2)
    assert member_client.get(TASKS_URL).status_code == 200
    small_count, small = queries_for(member_client, FEED_URL, {"limit": 100})
    assert small["count"] == 2
    for n, task in enumerate(make_tasks(member, others, 20) + tasks):
        task_update(actor=task.owner, task_id=task.pk, data={"description": f"changed {n}"})

    with django_assert_num_queries(small_count):
        response = member_client.get(FEED_URL, {"limit": 100, "after": 0})

    assert len(page(response)["results"]) == 44
