"""/ws/tasks/ and projects: a socket follows the projects of its user.

The members of a project (any role) receive its events: its tasks' (a task moved
between projects: the members of both), its own (`project.*`) and its labels'
(`label.*`), each as `{"type", "event", "<kind>": {...}, "changes", "actor", "at"}`;
no one else does but the site-wide readers. A socket reads its user's memberships
again with every identity check (IdentityWatch: every WEBSOCKET_RECHECK_SECONDS, 5 by
default, and sooner when a membership event reaches the process): a member added
later receives the project's events from such a check on, and a removed one is told
(`project.member_removed` names them) and receives none after it.

Most tests run a check themselves (`recheck()`), the timed one out of the way; one
leaves it to the server.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import realtime.authentication
from accounts.models import User
from activity.models import Event
from projects.models import Project
from projects.services import member_add, member_remove, project_create
from realtime.authentication import IdentityWatch, identity_watch
from tasks.models import Task
from tasks.services import task_update
from tests.factories import TaskFactory, UserFactory
from tests.helpers import TASKS_URL, parse_dt, task_url
from tests.realtime.sockets import TIMEOUT, assert_all_silent, open_sockets, receive

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PROJECTS_URL = "/api/v1/projects/"
LABELS_URL = "/api/v1/labels/"
# Every event message: these and the object's state under its kind's name.
EVENT_FIELDS = {"type", "event", "changes", "actor", "at"}
# The design's promise: a removed member stops receiving within this many seconds.
REMOVAL_SECONDS = 5

in_thread = database_sync_to_async


def project_url(project: Project, *parts: object) -> str:
    return f"{PROJECTS_URL}{project.pk}/" + "".join(f"{part}/" for part in parts)


def ok(response: Any, status: int = 200) -> Any:
    """The response's body (None for a 204), once its status is checked."""
    assert response.status_code == status, response.content
    return response.json() if response.content else None


def shown_project(client: Any, project: Project) -> dict[str, Any]:
    """The project as the API shows it, without the caller's own `role`: what an
    event holds."""
    body = ok(client.get(project_url(project)))
    del body["role"]
    return dict(body)


async def recheck() -> None:
    """What the sockets of a process do every WEBSOCKET_RECHECK_SECONDS: check their
    identities and take their users' projects again."""
    await identity_watch().check_all()


async def receive_each(*communicators: Any) -> dict[str, Any]:
    """One message from each socket, the same on all: the message."""
    messages = [await receive(communicator) for communicator in communicators]
    for message in messages[1:]:
        assert message == messages[0]
    return messages[0]


def check_event(
    message: dict[str, Any],
    *,
    type: str,
    state: dict[str, Any],
    changes: dict[str, Any],
    actor: User,
    project: Project,
) -> None:
    """The message has the shape of its kind and is the stored event of `project`.
    Sync (reads the database)."""
    kind = type.partition(".")[0]
    assert set(message) == EVENT_FIELDS | {kind}, message
    assert message["type"] == type, message
    assert message[kind] == state
    assert message["changes"] == changes
    assert message["actor"] == actor.pk
    row = Event.objects.get(pk=message["event"])
    assert row.type == type
    assert row.project_id == project.pk
    assert parse_dt(message["at"]) == row.created_at


@pytest.fixture
def checked_by_the_test_only(settings: Any) -> None:
    """The timed check waits a minute: the test's own `recheck()` is the one that
    counts (one started by a membership event may come first; it changes nothing)."""
    settings.WEBSOCKET_RECHECK_SECONDS = 60


@pytest.fixture
def garden(member: User, other_member: User) -> Project:
    """Otto's project (he is its admin), Mia a member."""
    project = project_create(actor=other_member, name="Garden")
    member_add(actor=other_member, project_id=project.pk, identifier=member.username, role="member")
    return project


@pytest.fixture
def sam(db: None) -> User:
    """A user of no project but his personal one."""
    return UserFactory(username="sam", email="sam@example.com")


@pytest.fixture
def sam_client(sam: User, client_for: Callable[..., Any]) -> Any:
    return client_for(sam)


@pytest.fixture
def vera(garden: Project, other_member: User) -> User:
    """A viewer of Garden."""
    user = UserFactory(username="vera", email="vera@example.com")
    member_add(actor=other_member, project_id=garden.pk, identifier=user.username, role="viewer")
    return user


@pytest.fixture
def vera_client(vera: User, client_for: Callable[..., Any]) -> Any:
    return client_for(vera)


@pytest.fixture
def bed(garden: Project, other_member: User) -> Task:
    """A task of Garden, by Otto."""
    return TaskFactory(owner=other_member, project=garden, title="Dig the bed")


# --- who receives a project's events -------------------------------------------------


async def test_the_members_of_a_project_receive_its_task_events_and_a_non_member_none(
    garden,
    member,
    other_member,
    member_client,
    other_member_client,
    vera_client,
    manager_client,
    sam_client,
):
    async with open_sockets(
        other_member_client.tokens,
        member_client.tokens,
        vera_client.tokens,
        manager_client.tokens,
        sam_client.tokens,
    ) as (admin_ws, member_ws, viewer_ws, manager_ws, outsider_ws):
        readers = (admin_ws, member_ws, viewer_ws, manager_ws)

        created = ok(
            await in_thread(other_member_client.post)(
                TASKS_URL, {"title": "Plant beans", "project": garden.pk}, format="json"
            ),
            201,
        )
        message = await receive_each(*readers)
        assert created["project"] == garden.pk
        assert message["type"] == "task.created"
        assert message["task"] == created
        assert message["actor"] == other_member.pk

        updated = ok(
            await in_thread(member_client.patch)(
                task_url(created["id"]), {"status": "in_progress"}, format="json"
            )
        )
        message = await receive_each(*readers)
        assert message["type"] == "task.updated"
        assert message["task"] == updated
        assert message["changes"] == {"status": ["pending", "in_progress"]}
        assert message["actor"] == member.pk

        ok(await in_thread(other_member_client.delete)(task_url(created["id"])), 204)
        message = await receive_each(*readers)
        assert message["type"] == "task.deleted"
        assert message["task"] == updated

        await assert_all_silent(*readers, outsider_ws)


async def test_project_and_label_events_reach_the_members_with_the_state_of_their_kind(
    garden, member, other_member, member_client, other_member_client, manager_client, sam_client
):
    async with open_sockets(
        other_member_client.tokens,
        member_client.tokens,
        manager_client.tokens,
        sam_client.tokens,
    ) as (admin_ws, member_ws, manager_ws, outsider_ws):
        readers = (admin_ws, member_ws, manager_ws)

        ok(
            await in_thread(other_member_client.patch)(
                project_url(garden), {"name": "Allotment"}, format="json"
            )
        )
        message = await receive_each(*readers)
        await in_thread(check_event)(
            message,
            type="project.updated",
            state=await in_thread(shown_project)(other_member_client, garden),
            changes={"name": ["Garden", "Allotment"]},
            actor=other_member,
            project=garden,
        )

        label = ok(
            await in_thread(member_client.post)(
                project_url(garden, "labels"), {"name": "Beans", "color": "#00aa00"}, format="json"
            ),
            201,
        )
        message = await receive_each(*readers)
        await in_thread(check_event)(
            message,
            type="label.created",
            state=label,
            changes={"name": [None, "Beans"], "color": [None, "#00aa00"]},
            actor=member,
            project=garden,
        )

        recoloured = ok(
            await in_thread(member_client.patch)(
                f"{LABELS_URL}{label['id']}/", {"color": "#aa0000"}, format="json"
            )
        )
        message = await receive_each(*readers)
        await in_thread(check_event)(
            message,
            type="label.updated",
            state=recoloured,
            changes={"color": ["#00aa00", "#aa0000"]},
            actor=member,
            project=garden,
        )

        ok(await in_thread(member_client.delete)(f"{LABELS_URL}{label['id']}/"), 204)
        message = await receive_each(*readers)
        await in_thread(check_event)(
            message,
            type="label.deleted",
            state=recoloured,
            changes={"name": ["Beans", None], "color": ["#aa0000", None]},
            actor=member,
            project=garden,
        )

        membership = ok(
            await in_thread(other_member_client.patch)(
                project_url(garden, "members", member.pk), {"role": "viewer"}, format="json"
            )
        )
        message = await receive_each(*readers)
        await in_thread(check_event)(
            message,
            type="project.member_role_changed",
            state={
                **await in_thread(shown_project)(other_member_client, garden),
                "member": membership,
            },
            changes={"role": ["member", "viewer"]},
            actor=other_member,
            project=garden,
        )

        await assert_all_silent(*readers, outsider_ws)


async def test_the_members_of_a_deleted_project_receive_its_deletion(
    garden, other_member, member_client, other_member_client, sam_client
):
    last = await in_thread(shown_project)(other_member_client, garden)
    async with open_sockets(
        other_member_client.tokens, member_client.tokens, sam_client.tokens
    ) as (admin_ws, member_ws, outsider_ws):
        ok(await in_thread(other_member_client.delete)(project_url(garden)), 204)

        message = await receive_each(admin_ws, member_ws)
        await in_thread(check_event)(
            message,
            type="project.deleted",
            state=last,
            changes={
                "name": ["Garden", None],
                "description": ["", None],
                "is_archived": [False, None],
            },
            actor=other_member,
            project=garden,
        )
        await assert_all_silent(admin_ws, member_ws, outsider_ws)


async def test_a_task_moved_to_another_project_reaches_the_members_of_both(
    garden,
    bed,
    member,
    other_member,
    sam,
    member_client,
    other_member_client,
    sam_client,
    manager_client,
    client_for,
):
    def orchard_with_sam() -> Project:
        project = project_create(actor=other_member, name="Orchard")
        member_add(
            actor=other_member, project_id=project.pk, identifier=sam.username, role="member"
        )
        return project

    orchard = await in_thread(orchard_with_sam)()
    zoe_client = await in_thread(lambda: client_for(UserFactory(username="zoe")))()
    async with open_sockets(
        other_member_client.tokens,
        member_client.tokens,
        sam_client.tokens,
        manager_client.tokens,
        zoe_client.tokens,
    ) as (both_ws, left_ws, joined_ws, manager_ws, outsider_ws):
        moved = ok(
            await in_thread(other_member_client.patch)(
                task_url(bed), {"project": orchard.pk}, format="json"
            )
        )

        # Once each, also for Otto (a member of both) and the manager.
        message = await receive_each(both_ws, left_ws, joined_ws, manager_ws)
        assert message["type"] == "task.updated"
        assert message["task"] == moved
        assert message["changes"] == {"project": [garden.pk, orchard.pk]}
        row = await in_thread(Event.objects.get)(pk=message["event"])
        assert (row.project_id, row.previous_project_id) == (orchard.pk, garden.pk)
        await assert_all_silent(both_ws, left_ws, joined_ws, manager_ws, outsider_ws)

        # From now on the task is Orchard's only.
        await in_thread(task_update)(actor=other_member, task_id=bed.pk, data={"title": "Prune"})
        message = await receive_each(both_ws, joined_ws, manager_ws)
        assert message["changes"] == {"title": ["Dig the bed", "Prune"]}
        await assert_all_silent(both_ws, left_ws, joined_ws, manager_ws, outsider_ws)


# --- memberships that change while a socket is open -----------------------------------


async def test_a_member_added_later_receives_the_projects_events_from_the_next_check_on(
    checked_by_the_test_only,
    garden,
    bed,
    sam,
    other_member,
    member_client,
    other_member_client,
    sam_client,
):
    async with open_sockets(
        other_member_client.tokens, member_client.tokens, sam_client.tokens
    ) as (admin_ws, member_ws, new_ws):
        await in_thread(task_update)(actor=other_member, task_id=bed.pk, data={"title": "Before"})
        await receive_each(admin_ws, member_ws)
        await assert_all_silent(new_ws)

        membership = ok(
            await in_thread(other_member_client.post)(
                project_url(garden, "members"), {"username": "sam"}, format="json"
            ),
            201,
        )
        # The event names him: it reaches him at once.
        message = await receive_each(admin_ws, member_ws, new_ws)
        assert message["type"] == "project.member_added"
        assert message["project"]["member"] == membership
        assert membership["user"] == {"id": sam.pk, "username": "sam"}
        assert message["changes"] == {"role": [None, "member"]}

        await recheck()
        await in_thread(task_update)(actor=other_member, task_id=bed.pk, data={"title": "After"})

        message = await receive_each(admin_ws, member_ws, new_ws)
        assert message["type"] == "task.updated"
        assert message["changes"] == {"title": ["Before", "After"]}
        await assert_all_silent(admin_ws, member_ws, new_ws)


async def test_a_projects_creator_is_told_at_once_and_follows_it_without_waiting_for_a_check(
    checked_by_the_test_only, sam, sam_client
):
    async with open_sockets(sam_client.tokens) as (ws,):
        created = ok(
            await in_thread(sam_client.post)(PROJECTS_URL, {"name": "Shed"}, format="json"), 201
        )
        message = await receive(ws)
        assert message["type"] == "project.created"
        assert message["project"]["id"] == created["id"]
        # The event named him: his process checked its sockets' projects at once.
        soon = identity_watch()._soon
        assert soon is not None
        await soon

        label = ok(
            await in_thread(sam_client.post)(
                f"{PROJECTS_URL}{created['id']}/labels/",
                {"name": "Tools", "color": "#aabbcc"},
                format="json",
            ),
            201,
        )
        message = await receive(ws)
        assert message["type"] == "label.created"
        assert message["label"] == label


@pytest.mark.parametrize("remover", ["admin", "themselves"])
async def test_a_removed_member_is_told_and_receives_no_more_of_the_projects_events_once_checked(
    checked_by_the_test_only,
    garden,
    bed,
    task,
    member,
    other_member,
    member_client,
    other_member_client,
    remover,
):
    actor, client = {
        "admin": (other_member, other_member_client),
        "themselves": (member, member_client),
    }[remover]
    async with open_sockets(other_member_client.tokens, member_client.tokens) as (
        admin_ws,
        removed_ws,
    ):
        ok(await in_thread(client.delete)(project_url(garden, "members", member.pk)), 204)

        message = await receive_each(admin_ws, removed_ws)
        assert message["type"] == "project.member_removed"
        assert message["project"]["id"] == garden.pk
        assert message["project"]["members_count"] == 1
        assert message["project"]["member"]["user"] == {"id": member.pk, "username": "mia"}
        assert message["changes"] == {"role": ["member", None]}
        assert message["actor"] == actor.pk

        await recheck()
        await in_thread(task_update)(
            actor=other_member, task_id=bed.pk, data={"title": "Hers no more"}
        )
        ok(
            await in_thread(other_member_client.post)(
                project_url(garden, "labels"), {"name": "Later", "color": "#0000aa"}, format="json"
            ),
            201,
        )
        assert (await receive(admin_ws))["type"] == "task.updated"
        assert (await receive(admin_ws))["type"] == "label.created"
        await assert_all_silent(admin_ws, removed_ws)

        # The socket is open and follows her other projects.
        await in_thread(task_update)(actor=member, task_id=task.pk, data={"title": "Still mine"})
        assert (await receive(removed_ws))["changes"] == {"title": ["Mia's task", "Still mine"]}


def test_sockets_check_their_projects_at_least_every_5_seconds():
    """The default (docs/configuration.md); the tests here set their own."""
    assert 0 < django_settings.WEBSOCKET_RECHECK_SECONDS <= REMOVAL_SECONDS


class Checks:
    """Numbers the checks of the open sockets (IdentityWatch.check_all, however they
    are started) and notes which have ended."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = 0
        self.ended: set[int] = set()
        check_all = IdentityWatch.check_all

        async def numbered(watch: IdentityWatch) -> None:
            self.started += 1
            number = self.started
            try:
                await check_all(watch)
            finally:
                self.ended.add(number)

        monkeypatch.setattr(IdentityWatch, "check_all", numbered)

    async def wait_for_one_started_after(self, after: int) -> None:
        """Until a check numbered past `after` has ended, and every check before it:
        each socket then has the audience keys that check read."""
        deadline = time.monotonic() + 4 * TIMEOUT
        while not any(
            number > after and self.ended >= set(range(1, number + 1)) for number in self.ended
        ):
            assert time.monotonic() < deadline, "the sockets stopped checking"
            await asyncio.sleep(0.02)


async def test_a_removed_members_socket_leaves_the_project_by_itself(
    garden, bed, member, other_member, member_client, other_member_client, settings, monkeypatch
):
    """Nothing but the server's own checks (timed, or started by the removal): no
    `recheck()` here."""
    settings.WEBSOCKET_RECHECK_SECONDS = 0.1
    checks = Checks(monkeypatch)
    async with open_sockets(other_member_client.tokens, member_client.tokens) as (
        admin_ws,
        removed_ws,
    ):

        def remove_mia() -> int:
            """The number of the last check started before the removal committed."""
            committed: list[int] = []
            with transaction.atomic():
                # Runs first at the commit, before the removal's event is published.
                transaction.on_commit(lambda: committed.append(checks.started))
                member_remove(actor=other_member, project_id=garden.pk, user_id=member.pk)
            return committed[0]

        before_the_removal = await in_thread(remove_mia)()
        assert (await receive_each(admin_ws, removed_ws))["type"] == "project.member_removed"

        await checks.wait_for_one_started_after(before_the_removal)
        await in_thread(task_update)(actor=other_member, task_id=bed.pk, data={"title": "Too late"})

        assert (await receive(admin_ws))["changes"] == {"title": ["Dig the bed", "Too late"]}
        await assert_all_silent(admin_ws, removed_ws)


async def test_one_check_reads_the_projects_of_every_socket_in_one_query(
    checked_by_the_test_only,
    garden,
    bed,
    other_member,
    member_client,
    other_member_client,
    sam_client,
    monkeypatch,
):
    reads: list[list[str]] = []
    check = realtime.authentication.recheck_with_keys

    def counted(identities: Any) -> Any:
        with CaptureQueriesContext(connection) as queries:
            result = check(identities)
        reads.append(
            [q["sql"] for q in queries.captured_queries if "projects_membership" in q["sql"]]
        )
        return result

    monkeypatch.setattr(realtime.authentication, "recheck_with_keys", counted)
    async with open_sockets(
        other_member_client.tokens, member_client.tokens, sam_client.tokens, member_client.tokens
    ) as sockets:
        await recheck()

        assert reads
        assert all(len(membership_reads) == 1 for membership_reads in reads), reads
        # And the sockets follow what it read.
        await in_thread(task_update)(actor=other_member, task_id=bed.pk, data={"title": "Read"})
        await receive_each(sockets[0], sockets[1], sockets[3])
        await assert_all_silent(*sockets)
