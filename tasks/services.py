"""Every write of a task. Each one writes its event and invalidates the caches of
everyone who can see the task, whichever door (API, admin, command) it came through."""

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from accounts.models import User
from activity import services as activity
from projects.errors import ProjectArchivedError
from projects.models import WRITE_ROLES, Label, Membership, Project
from projects.services import personal_project_create
from taskmanager.batches import delete_in_batches
from taskmanager.exceptions import (
    ConflictError,
    DomainError,
    DomainValidationError,
    NotFoundError,
    PreconditionFailedError,
)
from taskmanager.prepared import PreparedRows, binding
from taskmanager.registry import Registry
from taskmanager.statements import RowInsert, RowUpdate, saved
from tasks import caching, events, positions, rebalancing
from tasks.errors import RelationExistsError
from tasks.models import IdempotencyKey, Relation, Task
from tasks.state import task_state

Status = Task.Status
_PROJECT = Task._meta.get_field("project")
IDEMPOTENCY_TTL = timedelta(hours=24)
TaskLabel = Task.labels.through
# Levels of subtasks, the top-level task included.
MAX_DEPTH = 5
# The fields whose change re-reads the project's order or hierarchy under its lock.
_ORDERED = frozenset({"project_id", "parent_id"})


def task_create(
    *,
    actor: User,
    title: str,
    description: str = "",
    priority: str = Task.Priority.MEDIUM,
    status: str = Status.PENDING,
    due_date: datetime | None = None,
    assignee: User | None = None,
    project: Project | None = None,
    labels: list[int] | None = None,
    parent: int | None = None,
) -> Task:
    """Create a task owned by `actor` in `project` (default: the actor's personal
    project), last in its order. Whether the actor may write there is the caller's
    check; the assignee must be a member who writes there, the labels the project's,
    the parent a task of the project with room below it (DomainValidationError)."""
    with transaction.atomic():
        if not labels and parent is None and assignee is None and activity.can_record_drawn():
            appended = _append_alone(
                actor,
                project,
                title=title,
                description=description,
                priority=priority,
                status=status,
                due_date=due_date,
            )
            if appended is not None:
                return appended
        project_id, last, key = _lock_for_append(project.pk if project else None, actor)
        _check_assignee(project_id, assignee.pk if assignee else None)
        label_ids = _checked_labels(project_id, labels or [])
        if parent is not None:
            _check_parent(project_id, parent, None)
        task = Task(
            project_id=project_id,
            title=title,
            description=description,
            priority=priority,
            status=status,
            due_date=due_date,
            owner_id=actor.pk,
            assignee_id=assignee.pk if assignee else None,
            completed_at=timezone.now() if status == Status.COMPLETED else None,
            label_ids=label_ids,
            parent_id=parent,
            position=positions.after(last),
        )
        if key is not None and not label_ids:
            # Its id drawn with the lock: the task and its event in one statement.
            task.pk = key
            insert = _TASK_INSERT_KEYED.statement(task)
            caching.invalidate_projects([task.project_id])  # before the event, as below
            events.record_with(
                insert,
                type=events.CREATED,
                task=task,
                actor=actor,
                before=None,
                after=task_state(task),
            )
            saved(task)
        else:
            _TASK_INSERT.run(task)
            _set_labels(task.pk, [], label_ids)
            # Before the event: after the commit, the counters move before the sockets
            # hear of it, so a client that reads on the event reads it afresh.
            caching.invalidate_projects([task.project_id])
            events.record(
                type=events.CREATED,
                task=task,
                actor=actor,
                before=None,
                after=task_state(task),
            )
        completed = int(status == Status.COMPLETED)
        _count_subtasks(actor, parent, total=1, completed=completed)
    return task


def _append_alone(actor: User, project: Project | None, **fields: Any) -> Task | None:
    """`task_create` of a task with no labels, parent or assignee, on PostgreSQL: the
    project's lock, its last position, the new id, the task's insert and its event in
    one statement (`_SLOT`, `_TASK_APPEND`, `_APPENDED`), which commits by itself where
    it is the transaction's first. None, and nothing written, where the project is
    missing or archived or the position is not one `tasks_position_after` gives: the
    caller's way finds out."""
    status = fields["status"]
    task = Task(
        owner_id=actor.pk,
        completed_at=timezone.now() if status == Status.COMPLETED else None,
        label_ids=[],
        position="",
        **fields,
    )
    if project is not None:
        task.project_id = project.pk
    # The project drawn too (the owner's personal one): its caches are named at commit.
    caching.invalidate_project_of(task)
    sql, params = _TASK_APPEND.statement(task)
    written = (
        f"slot AS ({_SLOT}), written(changed, project, position) AS ({sql})",
        [project.pk if project else None, actor.pk, *params],
    )
    event = events.record_drawn(
        written, drawn=_APPENDED, task=task, actor=actor, after=task_state(task), last=True
    )
    if event is None:
        return None
    drawn = event.data
    task.pk, task.project_id, task.position = drawn["id"], drawn["project"], drawn["position"]
    saved(task)
    return task


def task_create_idempotent(
    *,
    actor: User,
    key: str,
    body: Any,
    fields: dict[str, Any],
    represent: Callable[[Task], dict[str, Any]],
) -> tuple[dict[str, Any], bool]:
    """Create once per (user, key): a retry with the same body gets the first
    response back (True: replayed); the same key with another body is a conflict.

    The key row is inserted first in the creating transaction, so a racing retry
    waits on the unique constraint and then finds the finished response.
    """
    request_hash = hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str).encode()
    ).hexdigest()
    failure: IntegrityError | None = None
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user_id=actor.pk, key=key, request_hash=request_hash
                )
                task = task_create(actor=actor, **fields)
                record.task = task
                record.response = represent(task)
                record.save(update_fields=["task", "response"])
                return record.response, False
        except IntegrityError as exc:
            existing = IdempotencyKey.objects.filter(user_id=actor.pk, key=key).first()
            if existing is None:
                failure = exc
                continue
            if existing.created_at < timezone.now() - IDEMPOTENCY_TTL:
                existing.delete()  # expired: the key may be used afresh
                continue
            if existing.request_hash != request_hash:
                raise ConflictError(
                    "This Idempotency-Key was used with a different request body."
                ) from None
            return existing.response, True
    # Chained: a failure that was no key race (the actor's row deleted meanwhile) is
    # told apart by the exception handler.
    raise ConflictError("This Idempotency-Key is in use; retry the request.") from failure


def idempotency_keys_cleanup(*, dry_run: bool = False, batch_size: int = 5000) -> int:
    """Delete the records of `Idempotency-Key` creates older than IDEMPOTENCY_TTL
    (a retry after that creates afresh anyway), in short batches; how many."""
    expired = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_TTL)
    if dry_run:
        return expired.count()
    return delete_in_batches(expired, batch_size)


def idempotency_keys_cleanup_counted(*, dry_run: bool, batch_size: int) -> list[tuple[int, str]]:
    """`idempotency_keys_cleanup` for `manage.py cleanup_tokens` (taskmanager.cleanups)."""
    removed = idempotency_keys_cleanup(dry_run=dry_run, batch_size=batch_size)
    return [(removed, "idempotency keys")]


def task_update(
    *,
    actor: User,
    task_id: int,
    data: Mapping[str, Any],
    if_match: int | None = None,
    read: Task | None = None,
) -> Task:
    """Apply `data` (model field names; `assignee` a user or None, `project` a
    project) to the task, in a transaction of its own.

    The change is computed from the row as it is when written, so two writers never
    lose each other's changes; `if_match`, the version the caller last read (an
    `If-Match`), must still be current (PreconditionFailedError). The version moves
    by one, in the database, only when something changed. NotFoundError if the task
    is gone.

    `read`: the task as the caller has just read it (the API's view reads it for its
    checks). The write is then conditional on that version, which saves reading the
    row again; if the task moved on meanwhile, the change is computed again from the
    locked row.

    `labels` (ids) replaces the set; `parent` (an id or None) nests the task. A change
    of project or parent locks the projects concerned first (their order and
    hierarchy change); a task moving to another project takes its subtasks along,
    leaves its parent (unless given one there) and its labels (unless given some).
    """
    values = _column_values(data)
    ordered = _ORDERED & values.keys()
    # The events go in last, just before the commit: the outbox's ordering lock, which
    # every writer waits for, is then not held while the tasks this one blocks are read.
    with transaction.atomic(), activity.many_events():
        known = read if read is not None and read.pk == task_id else None
        locked: set[int] = set()
        # Only a change (as the caller read the task) of project or parent: a PUT
        # repeating them locks nothing.
        if any(known is None or getattr(known, name) != values[name] for name in ordered):
            locked = _lock_for(task_id, known, values)
        if known is not None:
            written = _apply(actor, known, values, if_match, conditional=True)
            if written is not None:
                return written
            # The task moved on since it was read: against the row as it is now,
            # the same fields may be a change after all.
            if ordered and not locked:
                locked = _lock_for(task_id, None, values)
        current = _locked(task_id)
        if locked and current.project_id not in locked:
            raise ConflictError("The task moved to another project meanwhile; retry.")
        written = _apply(actor, current, values, if_match, conditional=False)
        # Under the row lock the write always applies.
        return written if written is not None else current


def _lock_for(task_id: int, known: Task | None, values: dict[str, Any]) -> set[int]:
    """Lock the task's project and the one it goes to, before the task's row (a
    project's lock comes before its tasks' rows, as in moves and creates); their ids."""
    project_id = known.project_id if known is not None else _project_of(task_id)
    projects = {project_id, values.get("project_id", project_id)}
    _lock_projects(sorted(projects))
    return projects


def _column_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The API's field names and objects as the columns' names and values."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("assignee", "project"):
            values[f"{name}_id"] = value.pk if value is not None else None
        elif name == "parent":
            values["parent_id"] = value
        elif name == "labels":
            values["label_ids"] = sorted(set(value))
        else:
            values[name] = value
    return values


def _apply(
    actor: User, current: Task, values: dict[str, Any], if_match: int | None, *, conditional: bool
) -> Task | None:
    """Write `values` over `current` with its event and what follows from it (the
    parents' counts, the blocked tasks', the subtasks moving along); None when
    `conditional` and the row is no longer at `current.version` (nothing written)."""
    if if_match is not None and current.version != if_match:
        raise PreconditionFailedError()
    changed = {name: value for name, value in values.items() if getattr(current, name) != value}
    if not changed:
        return current
    project_id = changed.get("project_id", current.project_id)
    _check_writable(current.project_id, current)
    moving = project_id != current.project_id
    if moving:
        _check_writable(project_id)
        # What belongs to the project it leaves stays there, unless given anew; given
        # (even as they are, a PUT echoing them), they are checked against the new one.
        if values.get("parent_id") is not None:
            changed["parent_id"] = values["parent_id"]
        elif current.parent_id is not None:
            changed["parent_id"] = None
        if "label_ids" in values:
            changed["label_ids"] = values["label_ids"]
        elif current.label_ids:
            changed["label_ids"] = []
        changed["position"] = positions.after(_last_position(project_id))
    if {"assignee_id", "project_id"} & set(changed):
        _check_assignee(project_id, changed.get("assignee_id", current.assignee_id))
    if "label_ids" in changed:
        changed["label_ids"] = _checked_labels(project_id, changed["label_ids"])
    if changed.get("parent_id") is not None:
        _check_parent(project_id, changed["parent_id"], current.pk)
    now = timezone.now()
    if "status" in changed:
        changed["completed_at"] = now if changed["status"] == Status.COMPLETED else None
    written = {**changed, "updated_at": now, "version": current.version + 1}
    where = {"id": current.pk, "version": current.version} if conditional else {"id": current.pk}
    completion = _completion_changes(current.status, changed.get("status", current.status))
    if conditional and completion:
        # The tasks it blocks are read only if it blocks some, as read: a relation
        # added since fails this condition, and the change is made again from the
        # locked row.
        where["blocking"] = current.blocking
    # Nothing follows from it (no labels' rows, no parent's or blocked task's count):
    # the row and its event in one statement (an update that returns its row: not on
    # an SQLite older than 3.35).
    follows = (
        moving
        or bool({"label_ids", "parent_id"} & changed.keys())
        or (completion and bool(current.parent_id or current.blocking))
    )
    if conditional and not follows and connection.features.can_return_columns_from_insert:
        return _apply_alone(actor, current, written, where)
    # The values written are the row's from now on: no read back.
    if not _TASK_UPDATE.run(written, where):
        return None
    before = task_state(current)
    previous = Task(
        pk=current.pk,
        project_id=current.project_id,
        parent_id=current.parent_id,
        status=current.status,
        label_ids=current.label_ids,
    )
    for name, value in written.items():
        setattr(current, name, value)
    if "label_ids" in changed:
        _set_labels(current.pk, previous.label_ids, current.label_ids)
    caching.invalidate_projects([current.project_id, previous.project_id])  # before the event
    events.record(
        type=events.UPDATED,
        task=current,
        actor=actor,
        before=before,
        after=task_state(current),
        previous_project_id=previous.project_id if moving else None,
    )
    _follow_change(actor, previous, current)
    if moving and current.subtasks_total:
        _move_subtasks(actor, current)
    return current


def _apply_alone(
    actor: User, current: Task, written: dict[str, Any], where: dict[str, Any]
) -> Task | None:
    """`_apply`'s write of a change of the task's own fields that changes no other
    row (no parent's count, no blocked task's): the update and its event in one
    statement where the database allows; None, `current` as it was, if the row is no
    longer as `where` says. It is the last write of `task_update`'s transaction (and,
    the view's read in hand, its first statement: it may commit by itself)."""
    before = task_state(current)
    kept = {name: getattr(current, name) for name in written}
    for name, value in written.items():
        setattr(current, name, value)
    caching.invalidate_projects([current.project_id])  # before the event
    event = events.record_with(
        _TASK_UPDATE.returning_key(written, where),
        type=events.UPDATED,
        task=current,
        actor=actor,
        before=before,
        after=task_state(current),
        last=True,
    )
    if event is None:
        for name, value in kept.items():
            setattr(current, name, value)
        return None
    return current


def _follow_change(actor: User | None, before: Task, after: Task) -> None:
    """What a task's change means for others: its parents' subtask counts, and the
    tasks it blocks (a blocker completed, or reopened)."""
    was_done = before.status == Status.COMPLETED
    is_done = after.status == Status.COMPLETED
    if before.parent_id != after.parent_id:
        _count_subtasks(actor, before.parent_id, total=-1, completed=-int(was_done))
        _count_subtasks(actor, after.parent_id, total=1, completed=int(is_done))
    elif was_done != is_done:
        _count_subtasks(actor, after.parent_id, total=0, completed=1 if is_done else -1)
    if was_done != is_done and after.blocking:
        _count_blockers(actor, _blocked_by(after.pk), -1 if is_done else 1)


def _completion_changes(before: str, after: str) -> bool:
    return (before == Status.COMPLETED) != (after == Status.COMPLETED)


def _move_subtasks(actor: User | None, task: Task) -> None:
    """A task moved to another project: its subtasks, and theirs, follow it (last in
    the new project's order, without the old project's labels), each with its event."""
    level = [task.pk]
    moved: list[Task] = []
    while level:
        children = list(Task.objects.select_for_update().filter(parent_id__in=level).order_by("id"))
        moved.extend(children)
        level = [child.pk for child in children]
    last = _last_position(task.project_id)
    for child in moved:
        if child.assignee_id is not None:
            _check_assignee(task.project_id, child.assignee_id, field="project", subtask=child.pk)
        last = positions.after(last)
        previous_project_id = child.project_id
        old_labels = child.label_ids
        _write_unchecked(
            actor,
            child,
            {"project_id": task.project_id, "position": last, "label_ids": []},
            previous_project_id=previous_project_id,
        )
        _set_labels(child.pk, old_labels, [])


def task_check_writable(task: Task) -> None:
    """Refuse a change that belongs to the task (an attachment) while its project is
    archived (ProjectArchivedError, a 409)."""
    _check_writable(task.project_id, task)


def _check_writable(project_id: int, task: Task | None = None) -> None:
    """Refuse a change in an archived project (ProjectArchivedError); from the task's
    project when it was read with it (the API's views do), else from the database."""
    if task is not None and _PROJECT.is_cached(task) and task.project_id == project_id:
        archived = task.project.is_archived
    else:
        archived = Project.objects.filter(pk=project_id, is_archived=True).exists()
    if archived:
        raise ProjectArchivedError()


def _check_assignee(
    project_id: int, assignee_id: int | None, *, field: str = "assignee", subtask: int | None = None
) -> None:
    if assignee_id is None:
        return
    if not Membership.objects.filter(
        project_id=project_id, user_id=assignee_id, role__in=WRITE_ROLES
    ).exists():
        whose = f"Subtask {subtask}'s assignee" if subtask is not None else "The assignee"
        raise DomainValidationError(
            fields={field: [f"{whose} must be a member of the project who may write."]}
        )


def _checked_labels(project_id: int, label_ids: list[int]) -> list[int]:
    """The labels, sorted, when every one is the project's (else DomainValidationError)."""
    wanted = sorted(set(label_ids))
    if not wanted:
        return []
    found = set(
        Label.objects.filter(project_id=project_id, pk__in=wanted).values_list("pk", flat=True)
    )
    missing = [label_id for label_id in wanted if label_id not in found]
    if missing:
        raise DomainValidationError(
            fields={
                "labels": [f"No label {label_id} in the task's project." for label_id in missing]
            }
        )
    return wanted


def _set_labels(task_id: int, old: list[int], new: list[int]) -> None:
    """The label table follows the task's `label_ids`."""
    removed = set(old) - set(new)
    added = set(new) - set(old)
    if removed:
        TaskLabel.objects.filter(task_id=task_id, label_id__in=removed).delete()
    if added:
        TaskLabel.objects.bulk_create(
            [TaskLabel(task_id=task_id, label_id=label_id) for label_id in sorted(added)]
        )


def _check_parent(project_id: int, parent_id: int, task_id: int | None) -> None:
    """`parent_id` may hold `task_id` (None: a new task): a task of the same project,
    not the task itself or one of its subtasks, with the task's levels fitting below
    it within MAX_DEPTH. Run under the project's lock (no concurrent nesting)."""
    depth, ancestor = 0, parent_id
    while ancestor is not None:
        if ancestor == task_id:
            raise DomainValidationError(
                fields={"parent": ["A task cannot be its own parent or its subtask's subtask."]}
            )
        row = Task.objects.filter(pk=ancestor).values_list("project_id", "parent_id").first()
        if row is None or (depth == 0 and row[0] != project_id):
            raise DomainValidationError(
                fields={"parent": [f"No task {parent_id} in the task's project."]}
            )
        depth += 1
        ancestor = row[1]
        if depth > MAX_DEPTH:
            break
    height, level = 1, [task_id] if task_id is not None else []
    while level and depth + height <= MAX_DEPTH:
        level = list(Task.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        height += bool(level)
    if depth + height > MAX_DEPTH:
        raise DomainValidationError(
            fields={"parent": [f"Subtasks nest at most {MAX_DEPTH} levels deep."]}
        )


def _count_subtasks(
    actor: User | None, parent_id: int | None, *, total: int, completed: int
) -> None:
    """A subtask joined or left `parent_id`, or was completed or reopened."""
    if parent_id is None or (total == 0 and completed == 0):
        return
    parent = Task.objects.select_for_update().filter(pk=parent_id).first()
    if parent is None:
        return
    _write_unchecked(
        actor,
        parent,
        {
            "subtasks_total": parent.subtasks_total + total,
            "subtasks_completed": parent.subtasks_completed + completed,
        },
    )


def _blocked_by(task_id: int) -> list[int]:
    """The tasks `task_id` blocks: read when a task that blocks some (`blocking`) is
    completed, reopened or deleted."""
    return [other for (other,) in _BLOCKED.rows((task_id,))]


def _count_blockers(actor: User | None, task_ids: list[int], delta: int) -> None:
    """These tasks gained (+1) or lost (-1) a blocker that is not completed; a task
    whose `blocked` changes gets a new version and its event, the others only the count."""
    if not task_ids:  # most tasks block none: no query to build
        return
    for task in Task.objects.select_for_update().filter(pk__in=task_ids).order_by("id"):
        count = max(task.open_blockers + delta, 0)
        if (count > 0) == (task.open_blockers > 0):
            Task.objects.filter(pk=task.pk).update(open_blockers=count)
            _touch(task.pk)
        else:
            _write_unchecked(actor, task, {"open_blockers": count})


# The tasks a bulk change's derived writes changed (a parent's counts...), which it
# reads again before changing them itself; None outside a bulk change.
_touched: ContextVar[set[int] | None] = ContextVar("bulk_touched", default=None)


def _touch(task_id: int) -> None:
    touched = _touched.get()
    if touched is not None:
        touched.add(task_id)


def _lock_projects(project_ids: list[int]) -> dict[int, str | None]:
    """Lock the projects' rows (in id order: no two writers wait on each other),
    which serialises changes of their order and hierarchy; each one's greatest
    position. A project archived is a ProjectArchivedError, one gone a NotFoundError."""
    rows = dict(
        Project.objects.select_for_update()
        .filter(pk__in=set(project_ids))
        .order_by("pk")
        .values_list("pk", "is_archived")
    )
    if len(rows) != len(set(project_ids)):
        raise NotFoundError()
    if any(rows.values()):
        raise ProjectArchivedError()
    # Read once the lock is held, in a statement of its own: on PostgreSQL the locking
    # statement's subqueries see the rows as they were before it waited.
    return {pk: _last_position(pk) for pk in rows}


def _lock_for_append(project_id: int | None, user: User) -> tuple[int, str | None, int | None]:
    """`_lock_projects` for one project, or, `project_id` None, for the user's personal
    project (found by its owner in the locking statement; made first if it is
    missing): its id, its greatest position, and on PostgreSQL the new task's id,
    drawn in the same round trip (tasks_lock_for_append, migration tasks.0012)."""
    row: Sequence[Any] | None
    if connection.vendor == "postgresql":
        with connection.cursor() as checked, binding(checked, on_server=True) as cursor:
            cursor.execute(_LOCK_FOR_APPEND, [project_id, user.pk])
            row = cursor.fetchone()
    elif project_id is not None:
        return project_id, _lock_projects([project_id])[project_id], None
    else:
        rows = _PERSONAL_PROJECT_LOCKED.rows((user.pk,))
        row = (*rows[0], _last_position(rows[0][0]), None) if rows else None
    if row is None:
        if project_id is not None:
            raise NotFoundError()
        created = personal_project_create(user=user).pk
        return created, _lock_projects([created])[created], None
    locked_id, archived, last, key = row
    if archived:
        raise ProjectArchivedError()
    return locked_id, last, key


def _last_position(project_id: int) -> str | None:
    row = _POSITIONS.first((project_id,))
    return row[0] if row is not None else None


# A create's statements under its project's lock, written once (on PostgreSQL the
# lock and the position are one call, and the positions' look-up, which moves use too,
# is planned once): building them was a quarter of a create's CPU (bench/RESULTS.md).
_PERSONAL_PROJECT_LOCKED = PreparedRows(
    lambda owner_id: (
        Project.objects.select_for_update()
        .filter(personal_owner_id=owner_id)
        .values_list("pk", "is_archived")
    ),
    [int],
    on_server=True,
)
_LOCK_FOR_APPEND = "SELECT * FROM tasks_lock_for_append(%s::bigint, %s::bigint)"
_POSITIONS = PreparedRows(
    lambda project_id: (
        Task.objects.filter(project_id=project_id).order_by("-position").values_list("position")
    ),
    [int],
    on_server=True,
)
# Compiled once, prepared on the server (a look-up by the relation's unique index):
# building it was about a tenth of the CPU of PATCHes that change status as make
# bench's do, two in three of them completing or reopening (bench/RESULTS.md).
_BLOCKED = PreparedRows(
    lambda task_id: Relation.objects.filter(task_id=task_id, kind=Relation.Kind.BLOCKS).values_list(
        "other_id"
    ),
    [int],
    on_server=True,
)
_TASK_INSERT = RowInsert(Task)
_TASK_INSERT_KEYED = RowInsert(Task, keyed=True)
# `_append_alone`'s: the project locked, its last position and the new id (migration
# tasks.0012), the position after it (tasks.0013), then the task, its id, project and
# position drawn from those; its event's fields name them.
_SLOT = (
    "SELECT locked_id, locked_archived, next_id, tasks_position_after(locked_last) AS position"
    " FROM tasks_lock_for_append(%s::bigint, %s::bigint)"
)
_TASK_APPEND = RowInsert(
    Task,
    "INSERT INTO {table} ({columns}) SELECT {values} FROM slot"
    " WHERE NOT slot.locked_archived AND slot.position IS NOT NULL RETURNING {pk}",
    computed={"id": "slot.next_id", "project_id": "slot.locked_id", "position": "slot.position"},
)
_APPENDED = {
    "subject_id": "written.changed",
    "project_id": "written.project",
    "data": "%s || jsonb_build_object("
    "'id', written.changed, 'project', written.project, 'position', written.position)",
    "changes": "%s || jsonb_build_object('project', jsonb_build_array(NULL, written.project),"
    " 'position', jsonb_build_array(NULL, written.position))",
}
_TASK_UPDATE = RowUpdate(Task)


def _project_of(task_id: int) -> int:
    project_id = Task.objects.filter(pk=task_id).values_list("project_id", flat=True).first()
    if project_id is None:
        raise NotFoundError()
    return project_id


def task_delete(
    *, actor: User, task_id: int, if_match: int | None = None, read: Task | None = None
) -> None:
    """Delete the task and its attachments in a transaction of its own, keeping its
    history (a "deleted" event with its last state). `if_match` as for `task_update`."""
    with transaction.atomic():
        current = _locked(task_id)
        if if_match is not None and current.version != if_match:
            raise PreconditionFailedError()
        _check_writable(current.project_id, read)
        _delete_locked(actor, current)


def _delete_locked(actor: User | None, current: Task) -> None:
    """Delete the locked task with its event: its subtasks are detached, its parent
    counts one less, the tasks it blocked one blocker less (each with its event)."""
    children = Task.objects.select_for_update().filter(parent_id=current.pk).order_by("id")
    for child in children if current.subtasks_total else ():
        _write_unchecked(actor, child, {"parent_id": None})
    caching.invalidate_projects([current.project_id])  # before the event
    events.record(
        type=events.DELETED,
        task=current,
        actor=actor,
        before=task_state(current),
        after=None,
    )
    done = current.status == Status.COMPLETED
    _count_subtasks(actor, current.parent_id, total=-1, completed=-int(done))
    if not done and current.blocking:
        _count_blockers(actor, _blocked_by(current.pk), -1)
    for cleanup in _deletion_cleanups:
        cleanup(task_id=current.pk)
    current.delete()


def tasks_delete_for_project(*, project: Project, actor: User | None) -> None:
    """In the transaction deleting `project` (projects.services.on_project_delete):
    its tasks and what goes with each (attachments). No event per task: the
    project's `project.deleted` says it (docs/projects.md)."""
    tasks = Task.objects.filter(project_id=project.pk)
    # Tasks elsewhere that its open tasks blocked lose those blockers.
    blocked = (
        Relation.objects.filter(task__project_id=project.pk, kind=Relation.Kind.BLOCKS)
        .exclude(task__status=Status.COMPLETED)
        .exclude(other__project_id=project.pk)
        .values_list("other_id", flat=True)
    )
    for other_id in list(blocked):
        _count_blockers(actor, [other_id], -1)
    for cleanup in _deletion_cleanups:
        cleanup(project_id=project.pk)
    tasks.delete()
    caching.invalidate_projects([project.pk])


def assignments_clear(*, project: Project, user_id: int, actor: User | None) -> None:
    """A member left the project or became a viewer: their tasks there go
    unassigned, each with its event (projects.services.on_member_removed)."""
    assigned = Task.objects.filter(project_id=project.pk, assignee_id=user_id)
    for task_id in assigned.values_list("pk", flat=True):
        with transaction.atomic():
            current = _locked(task_id)
            _write_unchecked(actor, current, {"assignee_id": None})


def _write_unchecked(
    actor: User | None,
    current: Task,
    values: dict[str, Any],
    *,
    previous_project_id: int | None = None,
) -> None:
    """Write `values` over the locked `current`, with its event, skipping the rules
    (the caller's change is the reason: a member leaving, a subtask added)."""
    now = timezone.now()
    before = task_state(current)
    written = {**values, "updated_at": now, "version": current.version + 1}
    Task.objects.filter(pk=current.pk).update(**written)
    _touch(current.pk)
    for name, value in written.items():
        setattr(current, name, value)
    caching.invalidate_projects([current.project_id, previous_project_id])  # before the event
    events.record(
        type=events.UPDATED,
        task=current,
        actor=actor,
        before=before,
        after=task_state(current),
        previous_project_id=previous_project_id,
    )


def labels_remove(*, label: Label, actor: User | None) -> None:
    """A label is being deleted (projects.services.on_label_delete): its tasks lose
    it, each with a new version and its event."""
    carrying = TaskLabel.objects.filter(label_id=label.pk).values_list("task_id", flat=True)
    for task in Task.objects.select_for_update().filter(pk__in=list(carrying)).order_by("id"):
        _write_unchecked(
            actor, task, {"label_ids": [pk for pk in task.label_ids if pk != label.pk]}
        )


def project_lists_changed(*, project: Project, actor: User | None) -> None:
    """What the project's task lists show changed (archived, unarchived)."""
    caching.invalidate_projects([project.pk])


def memberships_changed(*, project: Project, user_id: int, actor: User | None) -> None:
    """The user's projects changed: their cached lists are recomputed."""
    caching.invalidate_members([user_id])


class TaskCleanup(Protocol):
    def __call__(self, *, task_id: int | None = None, project_id: int | None = None) -> None:
        """For the task `task_id`, or every task of the project `project_id`."""


# What other apps delete with tasks, in the deleting transaction before the rows go
# (files: the attachments): for one task, or for all of a project's at once, so
# that its thousands cost what one task does. Registered in their AppConfig.ready, so that tasks
# imports none of them.
_deletion_cleanups: Registry[TaskCleanup] = Registry()
on_task_delete = _deletion_cleanups.register


def _locked(task_id: int) -> Task:
    """The task, its row locked until the transaction ends."""
    try:
        return Task.objects.select_for_update().get(pk=task_id)
    except Task.DoesNotExist as exc:  # deleted by a concurrent request
        raise NotFoundError() from exc


def task_move(
    *,
    actor: User,
    task_id: int,
    before: int | None = None,
    after: int | None = None,
    if_match: int | None = None,
) -> Task:
    """Put the task just before or just after another task of its project: a new
    position for this one row. Moves in a project are serialised by its row lock,
    so two never take one place nor lose each other. A position grown long asks for
    a rebalance after commit (tasks.rebalancing); when no position fits (past the
    column's length), the project's long ones are rebalanced first, here."""
    reference_id = before if before is not None else after
    field = "before" if before is not None else "after"
    if reference_id is None:
        raise DomainValidationError(fields={"before": ["Give `before` or `after`."]})
    with transaction.atomic():
        project_id = _project_of(task_id)
        _lock_projects([project_id])
        current = _locked(task_id)
        if current.project_id != project_id:
            raise ConflictError("The task moved to another project meanwhile; retry.")
        if if_match is not None and current.version != if_match:
            raise PreconditionFailedError()
        if reference_id == current.pk:
            raise DomainValidationError(fields={field: ["A task cannot move next to itself."]})
        try:
            key = _key_next_to(project_id, current, reference_id, field)
        except positions.NoRoomError:
            rebalancing.rebalance_locked(project_id, actor)
            current = _locked(task_id)
            key = _key_next_to(project_id, current, reference_id, field)
        if key == current.position:
            return current
        _write_unchecked(actor, current, {"position": key})
        if positions.needs_rebalance(key):
            rebalancing.rebalance_later(project_id)
    return current


def _key_next_to(project_id: int, task: Task, reference_id: int, field: str) -> str:
    """The task's position just before or after `reference_id` (the task's own,
    when it is there already)."""
    reference = (
        Task.objects.filter(pk=reference_id, project_id=project_id)
        .values_list("position", flat=True)
        .first()
    )
    if reference is None:
        raise DomainValidationError(
            fields={field: [f"No task {reference_id} in this task's project."]}
        )
    others = Task.objects.filter(project_id=project_id).exclude(pk=task.pk)
    if field == "before":
        low = (
            others.filter(position__lt=reference)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        high: str | None = reference
    else:
        low = reference
        high = (
            others.filter(position__gt=reference)
            .order_by("position")
            .values_list("position", flat=True)
            .first()
        )
    if (low is None or low < task.position) and (high is None or task.position < high):
        return task.position
    if low is None:
        return positions.before(high) if high is not None else positions.first()
    if high is None:
        return positions.after(low)
    return positions.between(low, high)


def relation_create(*, actor: User, task: Task, kind: str, other_id: int) -> Relation:
    """Relate `task` to `other_id` (whose sight is the caller's check). A relation to
    the task itself is a DomainValidationError; one of the same kind between the two
    tasks, either way, a ConflictError. A blocker not completed makes the other task
    blocked."""
    if other_id == task.pk:
        raise DomainValidationError(fields={"task": ["A task cannot be related to itself."]})
    with transaction.atomic():
        locked = Task.objects.select_for_update().filter(pk__in=[task.pk, other_id]).order_by("id")
        pair = {each.pk: each for each in locked}
        if len(pair) != 2:
            raise NotFoundError()
        current = pair[task.pk]
        _check_writable(current.project_id, task)
        exists = Relation.objects.filter(
            task_id__in=[task.pk, other_id], other_id__in=[task.pk, other_id], kind=kind
        ).exists()
        if exists:
            raise RelationExistsError()
        relation = Relation.objects.create(
            task_id=task.pk, other_id=other_id, kind=kind, created_by_id=actor.pk
        )
        events.record_relation(
            type=events.RELATION_CREATED,
            relation=relation,
            actor=actor,
            projects=(current.project_id, pair[other_id].project_id),
        )
        if kind == Relation.Kind.BLOCKS:
            Task.objects.filter(pk=task.pk).update(blocking=F("blocking") + 1)
            if current.status != Status.COMPLETED:
                _count_blockers(actor, [other_id], 1)
    return relation


def relation_delete(*, actor: User, task: Task, relation_id: int) -> None:
    """Remove one of the task's relations (either direction); NotFoundError if it has
    no such relation."""
    with transaction.atomic():
        relation = (
            Relation.objects.select_for_update()
            .filter(pk=relation_id)
            .filter(Q(task_id=task.pk) | Q(other_id=task.pk))
            .first()
        )
        if relation is None:
            raise NotFoundError()
        _check_writable(task.project_id, task)
        # Both tasks locked, the blocker first, as its own change locks it and then the
        # tasks it blocks: a change completing or reopening it meanwhile counts this
        # relation either before (and this one sees its status) or not at all.
        ends = {
            pk: (project_id, status)
            for pk, project_id, status in Task.objects.select_for_update()
            .filter(pk__in=[relation.task_id, relation.other_id])
            .order_by(Case(When(pk=relation.task_id, then=0), default=1))
            .values_list("pk", "project_id", "status")
        }
        blocker, other = ends[relation.task_id], ends[relation.other_id]
        events.record_relation(
            type=events.RELATION_DELETED,
            relation=relation,
            actor=actor,
            projects=(blocker[0], other[0]),
        )
        relation.delete()
        if relation.kind == Relation.Kind.BLOCKS:
            Task.objects.filter(pk=relation.task_id, blocking__gt=0).update(
                blocking=F("blocking") - 1
            )
            if blocker[1] != Status.COMPLETED:
                _count_blockers(actor, [relation.other_id], -1)


# Tasks one bulk request changes or deletes at most.
BULK_MAX = 100
NOT_VISIBLE = "No task with this id that you can see."


class BulkError(DomainValidationError):
    message = "No task was changed: every failing id is named under `fields`."


def tasks_bulk_update(
    *,
    actor: User,
    ids: list[int],
    visible: Any,
    may_change: Callable[[Task], bool],
    data: Mapping[str, Any],
    add_labels: list[int],
    remove_labels: list[int],
) -> list[Task]:
    """Apply `data` (as task_update's) and the label changes to every task of `ids`
    that `visible` (a queryset) holds and `may_change` allows, in one transaction:
    all of them, each with its event, or none (BulkError naming each failing id)."""
    values = _column_values(data)
    with transaction.atomic():
        found = _bulk_found(ids, visible, may_change)
        projects = {task.project_id for task in found.values()}
        if "project_id" in values:
            _bulk_lock(projects | {values["project_id"]})
        # Locked at once, in id order, with their projects (archived?).
        locked = {
            task.pk: task
            for task in Task.objects.select_for_update(of=("self",))
            .select_related("project")
            .filter(pk__in=list(found))
            .order_by("id")
        }
        touched = _touched.set(set())
        try:
            with activity.many_events(), caching.invalidations_gathered():
                order = _ancestors_first(found)
                gone = {str(task_id): [NOT_VISIBLE] for task_id in order if task_id not in locked}
                if gone:  # deleted since they were read
                    failures = gone
                elif values.keys() <= _PLAIN_FIELDS and not (add_labels or remove_labels):
                    failures = _bulk_plain(actor, [locked[task_id] for task_id in order], values)
                else:
                    failures = _bulk_each(actor, order, locked, values, add_labels, remove_labels)
                if failures:  # before the events are inserted: all is rolled back
                    raise BulkError(fields=failures)
        finally:
            _touched.reset(touched)
        # As they are now: a later task's change may have changed an earlier one.
        final = Task.objects.in_bulk(list(found))
    return [final[task_id] for task_id in dict.fromkeys(ids)]


# What a bulk change may set without moving tasks between projects, parents or
# labels: each task's own row, then counts that follow (parents', blocked tasks').
_PLAIN_FIELDS = frozenset({"status", "priority", "due_date", "assignee_id"})


def _bulk_plain(actor: User, tasks: list[Task], values: dict[str, Any]) -> dict[str, list[str]]:
    """A bulk change of _PLAIN_FIELDS over the locked `tasks`, in their order: one
    UPDATE for the tasks that take the same values, their events, then what follows
    from each (_follow_change, reading its rows afresh: a task's own event always
    comes before those of the counts the others' changes give it). The failures, by
    task id."""
    failures: dict[str, list[str]] = {}
    now = timezone.now()
    members: set[tuple[int, int]] = set()
    writes: list[tuple[Task, dict[str, Any]]] = []
    for current in tasks:
        changed = {name: value for name, value in values.items() if getattr(current, name) != value}
        if not changed:
            continue
        try:
            _check_writable(current.project_id, current)
            assignee = changed.get("assignee_id")
            if assignee is not None and (current.project_id, assignee) not in members:
                _check_assignee(current.project_id, assignee)
                members.add((current.project_id, assignee))
        except DomainError as exc:
            failures[str(current.pk)] = _messages(exc)
            continue
        if "status" in changed:
            changed["completed_at"] = now if changed["status"] == Status.COMPLETED else None
        writes.append((current, {**changed, "updated_at": now}))
    if failures:
        return failures
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for current, written in writes:
        groups.setdefault(tuple(sorted(written.items())), []).append(current.pk)
    for same, ids in groups.items():
        Task.objects.filter(pk__in=ids).update(**dict(same), version=F("version") + 1)
    followed: list[tuple[Task, Task]] = []
    for current, written in writes:
        before = task_state(current)
        followed.append(
            (Task(pk=current.pk, parent_id=current.parent_id, status=current.status), current)
        )
        for name, value in {**written, "version": current.version + 1}.items():
            setattr(current, name, value)
        events.record(
            type=events.UPDATED, task=current, actor=actor, before=before, after=task_state(current)
        )
    for previous, current in followed:
        _follow_change(actor, previous, current)
    caching.invalidate_projects(sorted({task.project_id for task, _ in writes}))
    return failures


def _bulk_each(
    actor: User,
    order: list[int],
    locked: dict[int, Task],
    values: dict[str, Any],
    add_labels: list[int],
    remove_labels: list[int],
) -> dict[str, list[str]]:
    """A bulk change one task after the other (task_update's way), in `order`; the
    failures, by task id."""
    failures: dict[str, list[str]] = {}
    for task_id in order:
        current = locked.get(task_id) or _locked(task_id)
        # Read again if an earlier task's change changed this one (a parent's
        # counts, a subtask moved along with its parent).
        if task_id in (_touched.get() or ()):
            current = _locked(task_id)
        failure = _bulk_apply(actor, current, values, add_labels, remove_labels)
        if failure:
            failures[str(task_id)] = failure
    return failures


def _bulk_apply(
    actor: User,
    current: Task,
    values: dict[str, Any],
    add_labels: list[int],
    remove_labels: list[int],
) -> list[str]:
    """One task of a bulk change; the messages of its failure, if it fails."""
    task_values = dict(values)
    if add_labels or remove_labels:
        leaving = task_values.get("project_id", current.project_id) != current.project_id
        # A task leaving its project leaves its labels: the added ones are the
        # new project's.
        kept = [] if leaving else current.label_ids
        task_values["label_ids"] = sorted((set(kept) | set(add_labels)) - set(remove_labels))
    try:
        _apply(actor, current, task_values, None, conditional=False)
    except DomainError as exc:
        return _messages(exc)
    return []


def _ancestors_first(tasks: dict[int, Task]) -> list[int]:
    """The tasks' ids, those higher in their hierarchy first (then by id): a parent
    moved to another project takes its subtasks along before they are changed
    themselves, whatever their ids. One query per level (at most MAX_DEPTH)."""
    parents = {task.pk: task.parent_id for task in tasks.values()}
    frontier = {p for p in parents.values() if p is not None and p not in parents}
    while frontier:
        found = dict(Task.objects.filter(pk__in=frontier).values_list("pk", "parent_id"))
        parents.update(found)
        frontier = {p for p in found.values() if p is not None and p not in parents}

    def depth(task_id: int) -> int:
        levels, parent = 0, parents.get(task_id)
        while parent is not None and levels <= MAX_DEPTH:
            levels, parent = levels + 1, parents.get(parent)
        return levels

    return sorted(tasks, key=lambda task_id: (depth(task_id), task_id))


def tasks_bulk_delete(
    *, actor: User, ids: list[int], visible: Any, may_delete: Callable[[Task], bool]
) -> None:
    """Delete every task of `ids` in one transaction, each with its event, or none."""
    with transaction.atomic(), activity.many_events(), caching.invalidations_gathered():
        found = _bulk_found(ids, visible, may_delete)
        failures: dict[str, list[str]] = {}
        for task_id in sorted(found):
            current = Task.objects.select_for_update().filter(pk=task_id).first()
            if current is None:  # a subtask's parent was deleted before: still here
                failures[str(task_id)] = [NOT_VISIBLE]
                continue
            try:
                _check_writable(current.project_id)
            except DomainError as exc:
                failures[str(task_id)] = _messages(exc)
                continue
            _delete_locked(actor, current)
        if failures:
            raise BulkError(fields=failures)


def _bulk_found(ids: list[int], visible: Any, allowed: Callable[[Task], bool]) -> dict[int, Task]:
    """The tasks of `ids` the caller sees and may act on; a BulkError naming each
    other id."""
    found = {task.pk: task for task in visible.filter(pk__in=ids)}
    failures: dict[str, list[str]] = {}
    for task_id in dict.fromkeys(ids):
        task = found.get(task_id)
        if task is None:
            failures[str(task_id)] = [NOT_VISIBLE]
        elif not allowed(task):
            failures[str(task_id)] = ["You may not make this change to this task."]
    if failures:
        raise BulkError(fields=failures)
    return found


def _bulk_lock(project_ids: set[int]) -> None:
    # An archived one is named per task by _apply's own check.
    with contextlib.suppress(ProjectArchivedError):
        _lock_projects(sorted(project_ids))


def _messages(exc: DomainError) -> list[str]:
    """An error's messages, for one id of a bulk answer."""
    if exc.fields:
        return [
            f"{field}: {message}"
            for field, messages in exc.fields.items()
            for message in (messages if isinstance(messages, list) else [messages])
        ]
    return [exc.message]
