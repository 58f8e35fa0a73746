"""Operators change tasks in the Django admin with the API's consequences (events,
versions, cache invalidation, socket messages), and its lists stay cheap."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activity.models import Event
from projects.services import project_create
from realtime import fanout
from tasks import admin as tasks_admin
from tasks import events
from tasks.models import Task
from tasks.services import task_delete, task_update
from tests.factories import TaskFactory, UserFactory, shared_project
from tests.helpers import TASKS_URL, page

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tasks/task/"
EVENTS = "/admin/activity/event/"


def change_url(task_or_id) -> str:
    return f"{CHANGELIST}{getattr(task_or_id, 'pk', task_or_id)}/change/"


@pytest.fixture
def operator():
    return UserFactory(username="root", email="root@example.com", superuser=True)


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def act(client: Client, action: str, tasks) -> object:
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [task.pk for task in tasks]}
    )


def notes(response) -> list[tuple[int, str]]:
    """The (level, text) of the messages the admin queued for the next page."""
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


def listed(client: Client, url: str = CHANGELIST, params: dict | None = None) -> set[int]:
    """The ids on the changelist's page."""
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    return {row.pk for row in response.context["cl"].result_list}


def form_data(task: Task, **changes) -> dict[str, object]:
    """The change form as the browser sends it back, with `changes` typed over it."""
    data: dict[str, object] = {
        "title": task.title,
        "project": task.project_id,
        "description": task.description,
        "priority": task.priority,
        "status": task.status,
        "due_date_0": timezone.localtime(task.due_date).strftime("%Y-%m-%d")
        if task.due_date
        else "",
        "due_date_1": timezone.localtime(task.due_date).strftime("%H:%M:%S")
        if task.due_date
        else "",
        "assignee": task.assignee_id or "",
        "loaded_version": task.version,
    }
    data.update(changes)
    return data


# Bulk status change


def test_marking_tasks_completed_writes_one_event_per_changed_task(
    operator_client, operator, member, committed
):
    pending = TaskFactory(owner=member, status="pending")
    in_progress = TaskFactory(owner=member, status="in_progress")
    done = TaskFactory(owner=member, status="completed")

    with committed():
        response = act(operator_client, "mark_completed", [pending, in_progress, done])

    assert response.status_code == 302
    assert (messages.SUCCESS, "2 task(s) marked as completed; 1 already were.") in notes(response)
    for task, old in ((pending, "pending"), (in_progress, "in_progress")):
        task.refresh_from_db()
        assert task.status == "completed"
        assert task.completed_at is not None
        assert task.version == 2
        (event,) = Event.objects.filter(subject_id=task.pk, type=events.UPDATED)
        assert event.actor_id == operator.pk
        assert event.changes["status"] == [old, "completed"]
        assert set(event.changes) == {"status", "completed_at"}
    done.refresh_from_db()
    assert done.version == 1
    assert not Event.objects.filter(subject_id=done.pk, type=events.UPDATED).exists()


def test_marking_a_completed_task_pending_clears_its_completion_time(
    operator_client, member, committed
):
    task = TaskFactory(owner=member, status="completed")

    with committed():
        act(operator_client, "mark_pending", [task])

    task.refresh_from_db()
    assert (task.status, task.completed_at, task.version) == ("pending", None, 2)
    (event,) = Event.objects.filter(subject_id=task.pk, type=events.UPDATED)
    assert event.changes["status"] == ["completed", "pending"]


def test_a_bulk_status_change_reaches_a_members_cached_task_list(
    operator_client, member, member_client, committed
):
    task = TaskFactory(owner=member, status="pending", title="Before")

    def statuses() -> dict[int, tuple[str, str]]:
        body = page(member_client.get(TASKS_URL))
        return {item["id"]: (item["title"], item["status"]) for item in body["results"]}

    assert statuses() == {task.pk: ("Before", "pending")}
    # A write that skips the service is not seen: the list really is cached.
    Task.objects.filter(pk=task.pk).update(title="Behind the cache's back")
    assert statuses() == {task.pk: ("Before", "pending")}

    with committed():
        act(operator_client, "mark_in_progress", [task])

    assert statuses() == {task.pk: ("Behind the cache's back", "in_progress")}


def test_a_bulk_status_change_is_sent_to_the_owners_sockets(operator_client, member, committed):
    task = TaskFactory(owner=member, status="pending")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(fanout.EVENTS_GROUP, channel)

    with committed():
        act(operator_client, "mark_completed", [task])

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), 5)

    message = async_to_sync(receive)()["message"]
    assert message["type"] == "task.updated"
    assert message["task"]["id"] == task.pk
    assert message["changes"]["status"] == ["pending", "completed"]


def test_a_bulk_status_change_over_the_limit_changes_nothing(operator_client, member, monkeypatch):
    monkeypatch.setattr(tasks_admin, "BULK_LIMIT", 2)
    tasks = [TaskFactory(owner=member, status="pending") for _ in range(3)]

    response = act(operator_client, "mark_completed", tasks)

    assert response.status_code == 302
    assert [level for level, _ in notes(response)] == [messages.ERROR]
    assert set(Task.objects.values_list("status", flat=True)) == {"pending"}
    assert not Event.objects.filter(type=events.UPDATED).exists()


def test_a_task_deleted_meanwhile_is_reported_and_the_others_change(
    operator_client, operator, member, monkeypatch, committed
):
    gone, kept = TaskFactory(owner=member), TaskFactory(owner=member)
    real_update = tasks_admin.services.task_update

    def update_after_a_concurrent_delete(*, actor, task_id, data, **kwargs):
        if task_id == gone.pk:
            task_delete(actor=operator, task_id=task_id)
        return real_update(actor=actor, task_id=task_id, data=data, **kwargs)

    monkeypatch.setattr(tasks_admin.services, "task_update", update_after_a_concurrent_delete)

    with committed():
        response = act(operator_client, "mark_completed", [gone, kept])

    assert response.status_code == 302
    levels = [level for level, _ in notes(response)]
    assert messages.ERROR in levels
    assert (messages.SUCCESS, "1 task(s) marked as completed; 0 already were.") in notes(response)
    kept.refresh_from_db()
    assert kept.status == "completed"


# Add, change and delete through the forms


def test_adding_a_task_in_the_admin_creates_it_through_the_service(
    operator_client, operator, member, committed
):
    project = shared_project(operator, member)

    with committed():
        response = operator_client.post(
            f"{CHANGELIST}add/",
            {
                "title": "  From the admin  ",
                "project": project.pk,
                "description": "  kept as typed",
                "priority": "high",
                "status": "pending",
                "assignee": member.pk,
            },
        )

    assert response.status_code == 302, response.content
    task = Task.objects.get()
    assert (task.title, task.project, task.owner, task.assignee, task.version) == (
        "From the admin",
        project,
        operator,
        member,
        1,
    )
    assert task.description == "  kept as typed"
    (event,) = Event.objects.filter(subject_id=task.pk, type__startswith="task.")
    assert (event.type, event.actor_id) == (events.CREATED, operator.pk)


def test_saving_a_status_change_in_the_change_form_records_only_that_change(
    operator_client, operator, member, committed
):
    task = TaskFactory(owner=member, title="Form task", description="Kept")

    with committed():
        response = operator_client.post(change_url(task), form_data(task, status="in_progress"))

    assert response.status_code == 302, response.content
    task.refresh_from_db()
    assert (task.status, task.version) == ("in_progress", 2)
    (event,) = Event.objects.filter(subject_id=task.pk, type=events.UPDATED)
    assert event.actor_id == operator.pk
    assert event.changes == {"status": ["pending", "in_progress"]}


def test_saving_the_change_form_unchanged_writes_nothing(operator_client, member):
    task = TaskFactory(owner=member, description="Two spaces after  this")

    response = operator_client.post(change_url(task), form_data(task))

    assert response.status_code == 302, response.content
    task.refresh_from_db()
    assert task.version == 1
    assert not Event.objects.filter(subject_id=task.pk, type=events.UPDATED).exists()


def test_the_change_form_refuses_a_task_changed_since_it_was_opened(
    operator_client, member, committed
):
    task = TaskFactory(owner=member, title="Original")
    opened = form_data(task, title="Operator's title")
    task_update(actor=member, task_id=task.pk, data={"title": "Member's title"})

    with committed():
        response = operator_client.post(change_url(task), opened)

    assert response.status_code == 302
    assert response["Location"] == change_url(task)
    assert [level for level, _ in notes(response)] == [messages.ERROR]
    task.refresh_from_db()
    assert (task.title, task.version) == ("Member's title", 2)
    assert Event.objects.filter(subject_id=task.pk, type=events.UPDATED).count() == 1


def test_the_change_form_does_not_assign_an_inactive_user(operator_client, member):
    task = TaskFactory(owner=member)
    gone = UserFactory()
    gone.is_active = False
    gone.save()

    response = operator_client.post(change_url(task), form_data(task, assignee=gone.pk))

    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["assignee"]
    task.refresh_from_db()
    assert task.assignee_id is None


def test_moving_a_task_to_another_project_in_the_change_form_goes_through_the_service(
    operator_client, operator, member, committed
):
    task = TaskFactory(owner=member)
    garden = project_create(actor=member, name="Garden")

    with committed():
        response = operator_client.post(change_url(task), form_data(task, project=garden.pk))

    assert response.status_code == 302, response.content
    old_project = task.project_id
    task.refresh_from_db()
    assert (task.project_id, task.version) == (garden.pk, 2)
    (event,) = Event.objects.filter(subject_id=task.pk, type=events.UPDATED)
    assert event.actor_id == operator.pk
    assert event.changes == {"project": [old_project, garden.pk]}
    assert (event.project_id, event.previous_project_id) == (garden.pk, old_project)


def test_a_move_the_service_refuses_is_an_error_message_and_changes_nothing(
    operator_client, member, other_member
):
    task = TaskFactory(owner=member, assignee=other_member)
    garden = project_create(actor=member, name="Garden")  # Otto is no member of it

    response = operator_client.post(
        change_url(task), form_data(task, project=garden.pk, title="Not kept either")
    )

    assert response.status_code == 302
    assert response["Location"] == change_url(task)
    assert notes(response) == [
        (messages.ERROR, "The assignee must be a member of the project who may write.")
    ]
    before = (task.project_id, task.title)
    task.refresh_from_db()
    assert (task.project_id, task.title, task.version) == (*before, 1)


def test_deleting_a_task_in_the_admin_writes_a_deleted_event(
    operator_client, operator, member, committed
):
    task = TaskFactory(owner=member)

    with committed():
        response = operator_client.post(f"{CHANGELIST}{task.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content
    assert not Task.objects.filter(pk=task.pk).exists()
    event = Event.objects.get(subject_id=task.pk, type=events.DELETED)
    assert event.actor_id == operator.pk
    assert event.data["id"] == task.pk


def test_bulk_deleting_tasks_writes_a_deleted_event_for_each(operator_client, member, committed):
    tasks = [TaskFactory(owner=member) for _ in range(3)]

    with committed():
        response = operator_client.post(
            CHANGELIST,
            {
                "action": "delete_selected",
                "_selected_action": [task.pk for task in tasks],
                "post": "yes",
            },
        )

    assert response.status_code == 302, response.content
    assert not Task.objects.exists()
    assert set(Event.objects.filter(type=events.DELETED).values_list("subject_id", flat=True)) == {
        task.pk for task in tasks
    }


# Filters and search


@pytest.fixture
def spread(member, other_member, now):
    """Tasks of Mia and Otto, assigned both ways, in each state, some overdue."""
    past, future = now - timedelta(days=1), now + timedelta(days=1)
    return {
        "late": TaskFactory(owner=member, due_date=past, status="in_progress"),
        "late_but_done": TaskFactory(owner=member, due_date=past, status="completed"),
        "on_time": TaskFactory(owner=member, due_date=future, assignee=other_member),
        "undated": TaskFactory(owner=other_member, assignee=member, priority="high"),
    }


def ids(spread, *names) -> set[int]:
    return {spread[name].pk for name in names}


def test_the_overdue_filter_matches_the_api(operator_client, spread):
    assert listed(operator_client, params={"overdue": "yes"}) == ids(spread, "late")
    assert listed(operator_client, params={"overdue": "no"}) == ids(
        spread, "late_but_done", "on_time", "undated"
    )


def test_the_status_and_priority_filters(operator_client, spread):
    assert listed(operator_client, params={"status__exact": "completed"}) == ids(
        spread, "late_but_done"
    )
    assert listed(operator_client, params={"priority__exact": "high"}) == ids(spread, "undated")


def test_the_owner_and_assignee_filters_take_a_username_in_any_case(operator_client, spread):
    assert listed(operator_client, params={"owner_username": "MIA"}) == ids(
        spread, "late", "late_but_done", "on_time"
    )
    assert listed(operator_client, params={"assignee_username": " mia "}) == ids(spread, "undated")
    assert listed(operator_client, params={"assignee_username": "otto"}) == ids(spread, "on_time")
    assert listed(operator_client, params={"owner_username": "nobody"}) == set()
    assert listed(operator_client, params={"owner_username": "mi\x00a"}) == set()
    assert listed(operator_client, params={"owner_username": ""}) == ids(
        spread, "late", "late_but_done", "on_time", "undated"
    )


def test_the_username_filter_box_keeps_the_other_parameters(operator_client, spread):
    response = operator_client.get(CHANGELIST, {"status__exact": "pending", "q": "Task", "p": 1})

    html = response.content.decode()
    assert 'name="owner_username"' in html
    assert '<input type="hidden" name="status__exact" value="pending">' in html
    assert '<input type="hidden" name="q" value="Task">' in html
    assert 'name="p"' not in html.split('name="owner_username"')[0].rsplit("<form", 1)[-1]


def test_the_project_filter_takes_an_id_or_a_name_in_any_case(operator_client, member, spread):
    garden = project_create(actor=member, name="Garden")
    planted = TaskFactory(owner=member, project=garden)
    personal = spread["late"].project_id

    assert listed(operator_client, params={"project": str(garden.pk)}) == {planted.pk}
    assert listed(operator_client, params={"project": " gARDEN "}) == {planted.pk}
    assert listed(operator_client, params={"project": str(personal)}) == ids(
        spread, "late", "late_but_done"
    )
    # Every user's personal project has that name.
    assert listed(operator_client, params={"project": "personal"}) == ids(
        spread, "late", "late_but_done"
    )
    for nothing in ("9" * 30, "²", "Gar\x00den", "Greenhouse"):
        assert listed(operator_client, params={"project": nothing}) == set(), nothing


def test_the_task_list_shows_each_tasks_project(operator_client, member):
    garden = project_create(actor=member, name="Garden")
    TaskFactory(owner=member, project=garden)

    response = operator_client.get(CHANGELIST)

    assert '<td class="field-project nowrap">Garden</td>' in response.content.decode()


def test_search_finds_tasks_by_words_of_their_title(operator_client, member, other_member):
    plants = TaskFactory(owner=member, title="Water the plants")
    TaskFactory(owner=other_member, title="Feed the cat")

    assert listed(operator_client, params={"q": "PLANTS"}) == {plants.pk}
    assert listed(operator_client, params={"q": "plants water"}) == {plants.pk}
    assert listed(operator_client, params={"q": "dog"}) == set()


def test_the_assignee_autocomplete_finds_users(operator_client, member):
    response = operator_client.get(
        "/admin/autocomplete/",
        {"app_label": "tasks", "model_name": "task", "field_name": "assignee", "term": "mi"},
    )

    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["mia"]


# Every page answers


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "plants"},
        {"status__exact": "pending"},
        {"priority__exact": "low"},
        {"overdue": "yes"},
        {"overdue": "no"},
        {"owner_username": "mia"},
        {"assignee_username": "otto"},
        {"project": "1"},
        {"project": "Personal"},
        {"created_at__year": "2024"},
        {"o": "-3"},
        {"all": ""},
    ],
)
def test_the_task_changelist_answers_with_any_filter(operator_client, spread, params):
    assert operator_client.get(CHANGELIST, params).status_code == 200


def test_the_task_add_change_and_delete_pages_answer(operator_client, spread):
    task = spread["on_time"]

    assert operator_client.get(f"{CHANGELIST}add/").status_code == 200
    response = operator_client.get(change_url(task))
    assert response.status_code == 200
    assert 'name="loaded_version"' in response.content.decode()
    assert operator_client.get(f"{CHANGELIST}{task.pk}/delete/").status_code == 200
    confirm = operator_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [task.pk]}
    )
    assert confirm.status_code == 200  # the "are you sure?" page; nothing deleted yet
    assert Task.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"type": "task.deleted"},
        {"subject_id": "1"},
        {"subject_id": "x"},
        {"subject_id": "²"},
        {"subject_id": "9" * 30},
        {"o": "3"},
    ],
)
def test_the_event_changelist_answers_with_any_filter(operator_client, spread, params):
    assert operator_client.get(EVENTS, params).status_code == 200


# Events are read-only and outlive their task


def test_events_are_listed_by_task_and_kind_even_after_the_task_is_gone(
    operator_client, operator, spread
):
    task = spread["undated"]
    task_update(actor=operator, task_id=task.pk, data={"status": "completed"})
    task_delete(actor=operator, task_id=task.pk)
    history = set(Event.objects.filter(subject_id=task.pk).values_list("pk", flat=True))

    assert listed(operator_client, EVENTS, {"subject_id": str(task.pk)}) == history
    # The box lists every kind's events of that id (a project's may share it).
    assert Event.objects.filter(pk__in=history, type__startswith="task.").count() == 3
    assert listed(operator_client, EVENTS, {"subject_id": "not a number"}) == set()
    deleted = listed(operator_client, EVENTS, {"type": "task.deleted"})
    assert deleted == set(Event.objects.filter(type=events.DELETED).values_list("pk", flat=True))
    for event_id in history:
        assert operator_client.get(f"{EVENTS}{event_id}/change/").status_code == 200


def test_events_cannot_be_added_changed_or_deleted_in_the_admin(operator_client, spread):
    event = Event.objects.first()

    assert operator_client.get(f"{EVENTS}add/").status_code == 403
    assert (
        operator_client.post(f"{EVENTS}{event.pk}/change/", {"type": "task.deleted"}).status_code
        == 403
    )
    assert operator_client.get(f"{EVENTS}{event.pk}/delete/").status_code == 403
    assert operator_client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    response = operator_client.post(
        EVENTS, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert Event.objects.filter(pk=event.pk).exists()
    assert response.status_code in (200, 302)


# Lists cost the same whatever their length


def queries_of(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def add_tasks(count: int) -> None:
    """Tasks with their own owner and assignee each, so per-row user lookups would show."""
    for _ in range(count):
        task = TaskFactory(owner=UserFactory(), assignee=UserFactory())
        task_update(actor=task.owner, task_id=task.pk, data={"status": "in_progress"})


@pytest.mark.parametrize("url", [CHANGELIST, EVENTS])
def test_the_task_and_event_lists_cost_the_same_with_5_or_50_rows(
    operator_client, url, django_assert_max_num_queries
):
    add_tasks(5)
    operator_client.get(url)  # warms the login session's cache
    with_five = queries_of(operator_client, url)

    add_tasks(45)
    with django_assert_max_num_queries(with_five):
        response = operator_client.get(url)

    assert len(response.context["cl"].result_list) >= 50
