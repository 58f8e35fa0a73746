"""Every write of a task. Each one writes its event and invalidates the caches of
everyone who can see the task, whichever door (API, admin, command) it came through."""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from files.services import files_delete_for_task
from taskmanager.batches import delete_in_batches
from taskmanager.exceptions import ConflictError, NotFoundError, PreconditionFailedError
from tasks import caching, events
from tasks.models import IdempotencyKey, Task, TaskEvent

Status = Task.Status
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
) -> Task:
    """Create a task owned by `actor`."""
    with transaction.atomic():
        task = Task.objects.create(
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
            kind=TaskEvent.Kind.CREATED,
            task=task,
            actor=actor,
            before=None,
            after=events.snapshot(task),
        )
        caching.invalidate_for([task.owner_id, task.assignee_id])
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


def task_update(
    *,
    actor: User,
    task: Task,
    data: dict[str, Any],
    expected_version: int | None = None,
    locked: bool = False,
) -> Task:
    """Apply `data` (model field names; `assignee` a user or None) to the task.

    The row is locked while the change is computed, so two writers never lose each
    other's changes; `expected_version` (from If-Match) must still be current.
    The version moves by one, in the database, only when something changed.
    `locked`: the caller read `task` FOR UPDATE in the transaction it has open (the
    API does, saving a query); the change joins that transaction.
    """
    with _write_transaction(locked):
        current = task if locked else _locked(task)
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailedError()
        values = {
            ("assignee_id" if name == "assignee" else name): (
                value.pk if name == "assignee" and value is not None else value
            )
            for name, value in data.items()
        }
        changed = {name: value for name, value in values.items() if getattr(current, name) != value}
        if not changed:
            return current
        now = timezone.now()
        if "status" in changed:
            changed["completed_at"] = now if changed["status"] == Status.COMPLETED else None
        before = events.snapshot(current)
        previous_assignee_id = current.assignee_id
        # The row is locked, so the new version is the locked one plus one, and the
        # values written are the row's from now on: no read back.
        for name, value in changed.items():
            setattr(current, name, value)
        current.updated_at = now
        current.version += 1
        current.save(update_fields=[*changed, "updated_at", "version"])
        events.record(
            kind=TaskEvent.Kind.UPDATED,
            task=current,
            actor=actor,
            before=before,
            after=events.snapshot(current),
            previous_assignee_id=(
                previous_assignee_id if previous_assignee_id != current.assignee_id else None
            ),
        )
        caching.invalidate_for([current.owner_id, current.assignee_id, previous_assignee_id])
    return current


def task_delete(
    *, actor: User, task: Task, expected_version: int | None = None, locked: bool = False
) -> None:
    """Delete the task, keeping its history (a "deleted" event with its last state).
    `locked` as for `task_update`."""
    with _write_transaction(locked):
        current = task if locked else _locked(task)
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailedError()
        events.record(
            kind=TaskEvent.Kind.DELETED,
            task=current,
            actor=actor,
            before=events.snapshot(current),
            after=None,
        )
        caching.invalidate_for([current.owner_id, current.assignee_id])
        files_delete_for_task(task=current)
        current.delete()


def _write_transaction(locked: bool) -> transaction.Atomic:
    if locked and not transaction.get_connection().in_atomic_block:
        raise RuntimeError("locked=True needs the transaction that locked the task")
    # Joining the caller's transaction takes no savepoint (two more round trips).
    return transaction.atomic(savepoint=not locked)


def _locked(task: Task) -> Task:
    try:
        return Task.objects.select_for_update().get(pk=task.pk)
    except Task.DoesNotExist as exc:  # deleted by a concurrent request
        raise NotFoundError() from exc
