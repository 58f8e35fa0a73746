"""Issue 24 in the Django admin: a task's labels, parent, position, subtasks and
blocked state, and relations added and deleted through the services (their events,
versions and `blocked`), with refusals as form errors, never a 500."""

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.test import Client

from activity.models import Event
from projects.services import label_create, project_create, project_update
from tasks import events
from tasks.models import Relation, Task
from tasks.services import relation_create, task_update
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

TASKS = "/admin/tasks/task/"
RELATIONS = "/admin/tasks/relation/"


def change_url(task) -> str:
    return f"{TASKS}{task.pk}/change/"


@pytest.fixture
def operator():
    return UserFactory(username="root", email="root@example.com", superuser=True)


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def garden(member):
    return project_create(actor=member, name="Garden")


def form_data(task: Task, **changes) -> dict[str, object]:
    """The change form as the browser sends it back, with `changes` typed over it."""
    task.refresh_from_db()
    data: dict[str, object] = {
        "title": task.title,
        "project": task.project_id,
        "description": task.description,
        "priority": task.priority,
        "status": task.status,
        "due_date_0": "",
        "due_date_1": "",
        "assignee": task.assignee_id or "",
        "labels": list(task.label_ids),
        "parent": task.parent_id or "",
        "loaded_version": task.version,
    }
    data.update(changes)
    return data


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code  # the form again, not a 302
    return response.context["adminform"].form.errors


def notes(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


# The pages


def test_every_new_admin_page_loads(operator_client, member, garden):
    label = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    parent = TaskFactory(owner=member, project=garden, title="Parent")
    child = TaskFactory(owner=member, project=garden, parent=parent.pk, labels=[label.pk])
    relation = relation_create(actor=member, task=child, kind="blocks", other_id=parent.pk)

    pages = [
        TASKS,
        f"{TASKS}?blocked=yes",
        f"{TASKS}?blocked=no",
        f"{TASKS}?parent={parent.pk}",
        f"{TASKS}?parent=nonsense",
        f"{TASKS}add/",
        change_url(parent),
        change_url(child),
        RELATIONS,
        f"{RELATIONS}?kind=blocks",
        f"{RELATIONS}?task={parent.pk}",
        f"{RELATIONS}?task=%C2%B2",  # "²": a digit to isdigit(), not an id
        f"{RELATIONS}add/",
        f"{RELATIONS}add/?task={child.pk}",
        f"{RELATIONS}{relation.pk}/change/",
        f"{RELATIONS}{relation.pk}/delete/",
    ]
    for url in pages:
        assert operator_client.get(url).status_code == 200, url


def test_the_task_page_shows_labels_parent_position_subtasks_blocked_and_relations(
    operator_client, member, garden
):
    red = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    parent = TaskFactory(owner=member, project=garden, title="Parent")
    TaskFactory(owner=member, project=garden, parent=parent.pk, status="completed")
    TaskFactory(owner=member, project=garden, parent=parent.pk)
    blocker = TaskFactory(owner=member, project=garden, title="Blocker", labels=[red.pk])
    relation_create(actor=member, task=blocker, kind="blocks", other_id=parent.pk)
    parent.refresh_from_db()

    response = operator_client.get(change_url(parent))

    html = response.content.decode()
    form = response.context["adminform"].form
    assert [label.name for label in form.fields["labels"].queryset] == ["Red"]
    assert "parent" in form.fields
    assert parent.position in html
    assert f'href="{TASKS}?parent={parent.pk}">1 of 2 completed</a>' in html
    assert f"#{blocker.pk} Blocker blocks this task" in html
    assert f"{RELATIONS}add/?task={parent.pk}" in html
    assert 'alt="True"' in html  # blocked

    listed = operator_client.get(TASKS, {"blocked": "yes"}).context["cl"].result_list
    assert [task.pk for task in listed] == [parent.pk]
    children = operator_client.get(TASKS, {"parent": str(parent.pk)}).context["cl"].result_list
    assert len(children) == 2


def test_the_add_form_leaves_out_labels_and_what_is_derived(operator_client):
    form = operator_client.get(f"{TASKS}add/").context["adminform"].form

    assert "labels" not in form.fields
    assert "parent" in form.fields


# Labels and parent through task_update


def test_changing_labels_in_the_admin_moves_the_version_with_an_event(
    operator_client, operator, member, garden, committed
):
    red = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    blue = label_create(actor=member, project_id=garden.pk, name="Blue", color="#0000ff")
    task = TaskFactory(owner=member, project=garden, labels=[red.pk])

    with committed():
        response = operator_client.post(change_url(task), form_data(task, labels=[blue.pk]))

    assert response.status_code == 302, response.content
    task.refresh_from_db()
    assert task.label_ids == [blue.pk]
    assert list(task.labels.values_list("pk", flat=True)) == [blue.pk]
    assert task.version == 2
    (event,) = Event.objects.filter(subject_id=task.pk, type=events.UPDATED)
    assert event.actor_id == operator.pk
    assert event.changes == {"labels": [[red.pk], [blue.pk]]}


def test_saving_the_form_unchanged_leaves_labels_and_version_alone(
    operator_client, member, garden, committed
):
    red = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    task = TaskFactory(owner=member, project=garden, labels=[red.pk])

    with committed():
        response = operator_client.post(change_url(task), form_data(task))

    assert response.status_code == 302, response.content
    task.refresh_from_db()
    assert (task.label_ids, task.version) == ([red.pk], 1)
    assert not Event.objects.filter(subject_id=task.pk, type=events.UPDATED).exists()


def test_a_label_of_another_project_is_a_form_error(operator_client, member, other_member, garden):
    others = project_create(actor=other_member, name="Otto's")
    theirs = label_create(actor=other_member, project_id=others.pk, name="Theirs", color="#000000")
    task = TaskFactory(owner=member, project=garden)

    response = operator_client.post(change_url(task), form_data(task, labels=[theirs.pk]))

    assert "labels" in form_errors(response)
    task.refresh_from_db()
    assert (task.label_ids, task.version) == ([], 1)


def test_labels_of_the_old_project_on_a_move_are_a_form_error(operator_client, member, garden):
    red = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    attic = project_create(actor=member, name="Attic")
    task = TaskFactory(owner=member, project=garden)

    response = operator_client.post(
        change_url(task), form_data(task, project=attic.pk, labels=[red.pk])
    )

    assert form_errors(response)["labels"] == ['"Red" is not a label of the task\'s project.']
    task.refresh_from_db()
    assert (task.project_id, task.version) == (garden.pk, 1)


def test_a_parent_set_in_the_admin_counts_the_subtask_with_events(
    operator_client, operator, member, garden, committed
):
    parent = TaskFactory(owner=member, project=garden, title="Parent")
    child = TaskFactory(owner=member, project=garden, title="Child")

    with committed():
        response = operator_client.post(change_url(child), form_data(child, parent=parent.pk))

    assert response.status_code == 302, response.content
    child.refresh_from_db()
    parent.refresh_from_db()
    assert (child.parent_id, child.version) == (parent.pk, 2)
    assert (parent.subtasks_total, parent.version) == (1, 2)
    (event,) = Event.objects.filter(subject_id=parent.pk, type=events.UPDATED)
    assert event.actor_id == operator.pk
    assert event.changes["subtasks"] == [
        {"total": 0, "completed": 0},
        {"total": 1, "completed": 0},
    ]


@pytest.mark.parametrize("which", ["itself", "elsewhere"])
def test_a_parent_of_another_project_or_the_task_itself_is_a_form_error(
    operator_client, member, garden, which
):
    task = TaskFactory(owner=member, project=garden)
    elsewhere = TaskFactory(owner=member)  # her personal project
    parent = task if which == "itself" else elsewhere

    response = operator_client.post(change_url(task), form_data(task, parent=parent.pk))

    assert "parent" in form_errors(response)
    task.refresh_from_db()
    assert (task.parent_id, task.version) == (None, 1)


def test_a_cycle_the_form_cannot_see_is_refused_by_the_service_not_a_500(
    operator_client, member, garden
):
    parent = TaskFactory(owner=member, project=garden, title="Parent")
    child = TaskFactory(owner=member, project=garden, parent=parent.pk)
    parent.refresh_from_db()

    response = operator_client.post(change_url(parent), form_data(parent, parent=child.pk))

    assert response.status_code == 302
    assert [level for level, _ in notes(response)] == [messages.ERROR]
    parent.refresh_from_db()
    assert parent.parent_id is None


# Relations through relation_create and relation_delete


def test_adding_a_blocking_relation_records_its_event_and_blocks_the_other_task(
    operator_client, operator, member, garden, committed
):
    blocker = TaskFactory(owner=member, project=garden, title="Blocker")
    blocked = TaskFactory(owner=member, project=garden, title="Blocked")

    with committed():
        response = operator_client.post(
            f"{RELATIONS}add/", {"task": blocker.pk, "kind": "blocks", "other": blocked.pk}
        )

    assert response.status_code == 302, response.content
    relation = Relation.objects.get()
    assert (relation.task_id, relation.other_id, relation.kind) == (
        blocker.pk,
        blocked.pk,
        "blocks",
    )
    assert relation.created_by_id == operator.pk
    (created,) = Event.objects.filter(type=events.RELATION_CREATED)
    assert (created.subject_id, created.actor_id, created.project_id) == (
        relation.pk,
        operator.pk,
        garden.pk,
    )
    blocked.refresh_from_db()
    assert (blocked.open_blockers, blocked.version) == (1, 2)
    (updated,) = Event.objects.filter(subject_id=blocked.pk, type=events.UPDATED)
    assert updated.changes["blocked"] == [False, True]


def test_deleting_a_relation_records_its_event_and_unblocks(
    operator_client, operator, member, garden, committed
):
    blocker = TaskFactory(owner=member, project=garden)
    blocked = TaskFactory(owner=member, project=garden)
    relation = relation_create(actor=member, task=blocker, kind="blocks", other_id=blocked.pk)

    with committed():
        response = operator_client.post(f"{RELATIONS}{relation.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content
    assert not Relation.objects.exists()
    (deleted,) = Event.objects.filter(type=events.RELATION_DELETED)
    assert (deleted.subject_id, deleted.actor_id) == (relation.pk, operator.pk)
    blocked.refresh_from_db()
    assert (blocked.open_blockers, blocked.version) == (0, 3)


def test_deleting_relations_from_the_list_goes_through_the_service(
    operator_client, operator, member, garden, committed
):
    tasks = [TaskFactory(owner=member, project=garden) for _ in range(3)]
    relations = [
        relation_create(actor=member, task=tasks[0], kind="relates_to", other_id=tasks[1].pk),
        relation_create(actor=member, task=tasks[1], kind="blocks", other_id=tasks[2].pk),
    ]

    with committed():
        response = operator_client.post(
            RELATIONS,
            {
                "action": "delete_selected",
                "_selected_action": [relation.pk for relation in relations],
                "post": "yes",
            },
        )

    assert response.status_code == 302
    assert not Relation.objects.exists()
    assert set(
        Event.objects.filter(type=events.RELATION_DELETED).values_list("subject_id", flat=True)
    ) == {relation.pk for relation in relations}
    tasks[2].refresh_from_db()
    assert tasks[2].open_blockers == 0


@pytest.mark.parametrize("direction", ["same", "reverse"])
def test_the_same_relation_twice_is_a_form_error(operator_client, member, garden, direction):
    first, second = TaskFactory(owner=member, project=garden), TaskFactory(owner=member)
    relation_create(actor=member, task=first, kind="duplicates", other_id=second.pk)
    task, other = (first, second) if direction == "same" else (second, first)

    response = operator_client.post(
        f"{RELATIONS}add/", {"task": task.pk, "kind": "duplicates", "other": other.pk}
    )

    assert "other" in form_errors(response)
    assert Relation.objects.count() == 1
    assert Event.objects.filter(type=events.RELATION_CREATED).count() == 1


def test_a_task_related_to_itself_is_a_form_error(operator_client, member):
    task = TaskFactory(owner=member)

    response = operator_client.post(
        f"{RELATIONS}add/", {"task": task.pk, "kind": "relates_to", "other": task.pk}
    )

    assert form_errors(response)["other"] == ["A task cannot be related to itself."]
    assert not Relation.objects.exists()


def test_a_relation_in_an_archived_project_is_refused_with_a_message(
    operator_client, member, garden
):
    task, other = TaskFactory(owner=member, project=garden), TaskFactory(owner=member)
    project_update(actor=member, project_id=garden.pk, data={"is_archived": True})

    response = operator_client.post(
        f"{RELATIONS}add/", {"task": task.pk, "kind": "blocks", "other": other.pk}
    )

    assert response.status_code == 302
    assert [level for level, _ in notes(response)] == [messages.ERROR]
    assert not Relation.objects.exists()


def test_a_relation_is_never_changed_in_place(operator_client, member, garden):
    task, other = TaskFactory(owner=member, project=garden), TaskFactory(owner=member)
    relation = relation_create(actor=member, task=task, kind="blocks", other_id=other.pk)

    response = operator_client.post(
        f"{RELATIONS}{relation.pk}/change/",
        {"task": task.pk, "kind": "relates_to", "other": other.pk},
    )

    assert response.status_code == 403
    relation.refresh_from_db()
    assert relation.kind == "blocks"


def test_a_stale_task_form_with_new_labels_saves_nothing(
    operator_client, member, garden, committed
):
    red = label_create(actor=member, project_id=garden.pk, name="Red", color="#ff0000")
    task = TaskFactory(owner=member, project=garden)
    stale = form_data(task, labels=[red.pk])
    task_update(actor=member, task_id=task.pk, data={"title": "Changed meanwhile"})

    with committed():
        response = operator_client.post(change_url(task), stale)

    assert response.status_code == 302
    assert [level for level, _ in notes(response)] == [messages.ERROR]
    task.refresh_from_db()
    assert (task.label_ids, task.version) == ([], 2)
    assert not task.labels.exists()


@pytest.mark.parametrize(
    "page",
    [
        "/admin/projects/project/",
        "/admin/projects/label/",
        RELATIONS,
        "/admin/comments/comment/",
        "/admin/notifications/notification/",
    ],
)
def test_the_admin_role_opens_the_version_2_admin_pages(admin, page):
    # Staff of the admin role, not a superuser: notifications.0002 gave the role these.
    assert not admin.is_superuser
    client = Client()
    client.force_login(admin)

    response = client.get(page)

    assert response.status_code == 200, page


def test_a_member_opens_none_of_them(member):
    client = Client()
    client.force_login(member)

    response = client.get(RELATIONS)

    assert response.status_code == 302  # to the admin's login: not staff
