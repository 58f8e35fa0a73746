"""What `/sync/` reads: the outbox after a cursor as the user may read it now, and the
objects that changed as the API's own reads show them (the same selectors and
serializers), in one query per kind for any number of objects."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db.models import Q, QuerySet
from rest_framework.serializers import BaseSerializer

from accounts.models import User
from activity.models import Event
from activity.selectors import events_visible_to
from comments.events import COMMENT_EVENTS
from comments.selectors import comment_visible_to
from comments.serializers import CommentOutputSerializer
from projects import events as project_events
from projects.events import LABEL_EVENTS, PROJECT_EVENTS
from projects.selectors import label_visible_to, project_visible_to
from projects.serializers import LabelOutputSerializer, ProjectOutputSerializer
from sync.models import DeletedProjectMember
from tasks import events as task_events
from tasks.events import TASK_EVENTS
from tasks.selectors import task_visible_to
from tasks.serializers import TaskOutputSerializer
from tasks.state import STATE_COLUMNS, task_state

# The event types whose objects sync carries (membership events change the project:
# its `members_count`, `role`, `version`); relations and notifications are not synced.
SYNCED_TYPES = sorted(
    PROJECT_EVENTS.types | LABEL_EVENTS.types | TASK_EVENTS.types | COMMENT_EVENTS.types
)
# Ids per `IN (...)` when reading objects: within every database's parameter limit.
IDS_PER_QUERY = 1000


@dataclass(frozen=True)
class Scope:
    """What a snapshot covers: everything the user sees (`projects` None), or what
    some events made visible: the contents of `projects` and the comments of `tasks`."""

    projects: frozenset[int] | None = None
    tasks: frozenset[int] = frozenset()


EVERYTHING = Scope()


@dataclass(frozen=True)
class Kind:
    """One type of synced object: who sees which, and how the API shows one."""

    name: str
    visible: Callable[[User], QuerySet[Any]]
    in_scope: Callable[[QuerySet[Any], Scope], QuerySet[Any]]
    serializer: type[BaseSerializer[Any]]
    # Where the API writes the object from a few columns (a task), those columns and
    # how: read as named rows, not models, a page of 500 costs a third less.
    columns: tuple[str, ...] = ()
    state: Callable[[Any], dict[str, Any]] | None = None

    def represent(self, rows: QuerySet[Any]) -> dict[int, dict[str, Any]]:
        """Each row by id, as the API's GET of it shows it."""
        if self.state is not None:
            state = self.state
            return {row.id: state(row) for row in rows.values_list(*self.columns, named=True)}
        return {row.pk: self.serializer(row).data for row in rows}


def _projects_in(rows: QuerySet[Any], scope: Scope) -> QuerySet[Any]:
    return rows if scope.projects is None else rows.filter(pk__in=scope.projects)


def _contents_of(rows: QuerySet[Any], scope: Scope) -> QuerySet[Any]:
    return rows if scope.projects is None else rows.filter(project_id__in=scope.projects)


def _comments_in(rows: QuerySet[Any], scope: Scope) -> QuerySet[Any]:
    if scope.projects is None:
        return rows
    return rows.filter(Q(task__project_id__in=scope.projects) | Q(task_id__in=scope.tasks))


PROJECT = Kind("project", project_visible_to, _projects_in, ProjectOutputSerializer)
LABEL = Kind(
    "label",
    lambda user: label_visible_to(user).select_related(None),
    _contents_of,
    LabelOutputSerializer,
)
TASK = Kind("task", task_visible_to, _contents_of, TaskOutputSerializer, STATE_COLUMNS, task_state)
COMMENT = Kind("comment", comment_visible_to, _comments_in, CommentOutputSerializer)
# A snapshot's stages, in this order: a client has a project before its labels and
# tasks, and a task before its comments.
STAGES: Sequence[Kind] = (PROJECT, LABEL, TASK, COMMENT)
KINDS = {kind.name: kind for kind in STAGES}


def reads_all(user: User) -> int:
    """Which kinds the user reads all of, as bits: the projects (1), the tasks and
    their comments (2). What a snapshot holds depends on them."""
    bits = 0
    if PROJECT_EVENTS.read_all_permission and user.has_perm(PROJECT_EVENTS.read_all_permission):
        bits |= 1
    if TASK_EVENTS.read_all_permission and user.has_perm(TASK_EVENTS.read_all_permission):
        bits |= 2
    return bits


def snapshot_rows(
    kind: Kind, user: User, scope: Scope, *, after: int, limit: int
) -> list[tuple[int, dict[str, Any]]]:
    """Up to `limit` objects of `kind` in `scope` the user sees, with an id above
    `after`, by id, as the API shows them."""
    rows = kind.in_scope(kind.visible(user), scope).filter(pk__gt=after).order_by("pk")[:limit]
    return list(kind.represent(rows).items())


def states(user: User, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The objects of `keys` ((kind, id)) the user sees now, as the API shows them; one
    missing is deleted, or out of the user's sight."""
    wanted: dict[str, list[int]] = {}
    for name, pk in keys:
        wanted.setdefault(name, []).append(pk)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for name, ids in wanted.items():
        kind = KINDS[name]
        for start in range(0, len(ids), IDS_PER_QUERY):
            rows = kind.visible(user).filter(pk__in=ids[start : start + IDS_PER_QUERY])
            for pk, data in kind.represent(rows.order_by()).items():
                found[(name, pk)] = data
    return found


def head() -> int:
    """The id of the newest event (0 for none). Events commit in the order of their
    ids (activity.services' ordering lock): every event up to it is committed."""
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def oldest() -> int | None:
    """The id of the oldest event kept, or None if there is none."""
    return Event.objects.order_by("id").values_list("id", flat=True).first()


class EventRow(NamedTuple):
    id: int
    type: str
    subject_id: int
    transaction_key: int | None
    owner_id: int | None
    previous_project_id: int | None


EVENT_ROW = EventRow._fields


def changed_events(user: User, *, after: int, upto: int | None = None) -> QuerySet[Event]:
    """The events of synced types in (after, upto] the user may read now, oldest
    first: the outbox's rule (activity.selectors.events_visible_to), and the deletions
    of the projects they belonged to when those were deleted (their memberships went
    with the project); holders of "read all" on tasks read every project deletion,
    which takes away the tasks they saw in it."""
    deletions = Event.objects.filter(type=project_events.DELETED)
    permission = TASK_EVENTS.read_all_permission
    if not (permission and user.has_perm(permission)):
        readers = DeletedProjectMember.objects.filter(user_id=user.pk, event_id__gt=after)
        deletions = deletions.filter(pk__in=readers.values("event_id"))
    events = (events_visible_to(user) | deletions).filter(type__in=SYNCED_TYPES, id__gt=after)
    if upto is not None:
        events = events.filter(id__lte=upto)
    return events.order_by("id")


def opens(event: EventRow, user_id: int) -> bool:
    """Whether the event may have shown the user objects they had not seen, besides its
    own: the user added to a project (its contents), a task moved in from a project
    (its comments). `opening_events` is the same rule in SQL."""
    if event.type == project_events.MEMBER_ADDED:
        return event.owner_id == user_id
    return event.type == task_events.UPDATED and event.previous_project_id is not None


def opening_events(user: User, *, after: int, upto: int) -> Scope:
    """What the events in (after, upto] that `opens` may have made visible to the user:
    the projects they joined, the tasks moved (by their events' rule)."""
    found = (
        changed_events(user, after=after, upto=upto)
        .filter(
            Q(type=project_events.MEMBER_ADDED, owner_id=user.pk)
            | Q(type=task_events.UPDATED, previous_project_id__isnull=False)
        )
        .values_list("type", "subject_id")
    )
    projects: set[int] = set()
    tasks: set[int] = set()
    for event_type, subject_id in found:
        (projects if event_type == project_events.MEMBER_ADDED else tasks).add(subject_id)
    return Scope(projects=frozenset(projects), tasks=frozenset(tasks))
