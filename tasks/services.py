"""Every write of a task. Each one writes its event and invalidates the caches of
everyone who can see the task, whichever door (API, admin, command) it came through."""

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from projects.errors import ProjectArchivedError
from projects.models import WRITE_ROLES, Membership, Project
from projects.services import personal_project_create
from taskmanager.batches import delete_in_batches
from taskmanager.exceptions import (
    ConflictError,
    DomainValidationError,
    NotFoundError,
    PreconditionFailedError,
)
from taskmanager.registry import Registry
from tasks import caching, events
from tasks.models import IdempotencyKey, Task
from tasks.state import task_state

Status = Task.Status
_PROJECT = Task._meta.get_field("project")
IDEMPOTENCY_TTL = timedelta(hours=24)


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
) -> Task:
    """Create a task owned by `actor` in `project` (default: the actor's personal
    project). Whether the actor may write there is the caller's check; the assignee
    must be a member who writes there (DomainValidationError)."""
    with transaction.atomic():
        if project is None:
            project = personal_project_create(user=actor)
        # As the caller read it: an archive committing meanwhile counts as after this.
        if project.is_archived:
            raise ProjectArchivedError()
        _check_assignee(project.pk, assignee.pk if assignee else None)
        task = Task.objects.create(
            project_id=project.pk,
            title=title,
            description=description,
            priority=priority,
            status=status,
            due_date=due_date,
            owner_id=actor.pk,
            assignee_id=assignee.pk if assignee else None,
            completed_at=timezone.now() if status == Status.COMPLETED else None,
        )
        events.record(
            type=events.CREATED,
            task=task,
            actor=actor,
            before=None,
            after=task_state(task),
        )
        caching.invalidate_projects([task.project_id])
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
    """
    values = {
        (f"{name}_id" if name in ("assignee", "project") else name): (
            value.pk if name in ("assignee", "project") and value is not None else value
        )
        for name, value in data.items()
    }
    with transaction.atomic():
        if read is not None and read.pk == task_id:
            written = _apply(actor, read, values, if_match, conditional=True)
            if written is not None:
                return written
        current = _locked(task_id)
        written = _apply(actor, current, values, if_match, conditional=False)
        # Under the row lock the write always applies.
        return written if written is not None else current


def _apply(
    actor: User, current: Task, values: dict[str, Any], if_match: int | None, *, conditional: bool
) -> Task | None:
    """Write `values` over `current` with its event; None when `conditional` and the
    row is no longer at `current.version` (nothing written)."""
    if if_match is not None and current.version != if_match:
        raise PreconditionFailedError()
    changed = {name: value for name, value in values.items() if getattr(current, name) != value}
    if not changed:
        return current
    project_id = changed.get("project_id", current.project_id)
    _check_writable(current.project_id, current)
    if project_id != current.project_id:
        _check_writable(project_id)
    if {"assignee_id", "project_id"} & set(changed):
        _check_assignee(project_id, changed.get("assignee_id", current.assignee_id))
    now = timezone.now()
    if "status" in changed:
        changed["completed_at"] = now if changed["status"] == Status.COMPLETED else None
    written = {**changed, "updated_at": now, "version": current.version + 1}
    rows = Task.objects.filter(pk=current.pk)
    if conditional:
        rows = rows.filter(version=current.version)
    # The values written are the row's from now on: no read back.
    if not rows.update(**written):
        return None
    before = task_state(current)
    previous_project_id = current.project_id
    for name, value in written.items():
        setattr(current, name, value)
    events.record(
        type=events.UPDATED,
        task=current,
        actor=actor,
        before=before,
        after=task_state(current),
        previous_project_id=(
            previous_project_id if previous_project_id != current.project_id else None
        ),
    )
    caching.invalidate_projects([current.project_id, previous_project_id])
    return current


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


def _check_assignee(project_id: int, assignee_id: int | None) -> None:
    if assignee_id is None:
        return
    if not Membership.objects.filter(
        project_id=project_id, user_id=assignee_id, role__in=WRITE_ROLES
    ).exists():
        raise DomainValidationError(
            fields={"assignee": ["The assignee must be a member of the project who may write."]}
        )


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
        events.record(
            type=events.DELETED,
            task=current,
            actor=actor,
            before=task_state(current),
            after=None,
        )
        caching.invalidate_projects([current.project_id])
        for cleanup in _deletion_cleanups:
            cleanup(task_id=current.pk)
        current.delete()


def tasks_delete_for_project(*, project: Project, actor: User | None) -> None:
    """In the transaction deleting `project` (projects.services.on_project_delete):
    its tasks and what goes with each (attachments). No event per task: the
    project's `project.deleted` says it (docs/projects.md)."""
    tasks = Task.objects.filter(project_id=project.pk)
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
            _apply_unchecked(actor, current, {"assignee_id": None})


def _apply_unchecked(actor: User | None, current: Task, values: dict[str, Any]) -> None:
    """Write `values` over the locked `current`, with its event, skipping the rules
    (the caller's change is the reason: a member leaving)."""
    now = timezone.now()
    before = task_state(current)
    written = {**values, "updated_at": now, "version": current.version + 1}
    Task.objects.filter(pk=current.pk).update(**written)
    for name, value in written.items():
        setattr(current, name, value)
    events.record(
        type=events.UPDATED, task=current, actor=actor, before=before, after=task_state(current)
    )
    caching.invalidate_projects([current.project_id])


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
