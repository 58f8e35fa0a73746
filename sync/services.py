"""The writes of sync: who may read a project's deletion (recorded with it), and the
pruning of the outbox past its retention."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from activity.models import Event
from projects import events as project_events
from projects.models import Membership
from sync.models import DeletedProjectMember
from taskmanager.batches import delete_in_batches


def names_deletion_readers(event: Event) -> bool:
    """The events `deletion_readers_record` writes for: a project's deletion."""
    return event.type == project_events.DELETED


def deletion_readers_record(event: Event) -> None:
    """With a `project.deleted` event (activity.services.on_record, in the deleting
    transaction, before the project's rows go): its members then, who may read it
    later although their memberships are gone."""
    if event.type != project_events.DELETED or event.project_id is None:
        return
    members = Membership.objects.filter(project_id=event.project_id).values_list(
        "user_id", flat=True
    )
    DeletedProjectMember.objects.bulk_create(
        [DeletedProjectMember(event_id=event.pk, user_id=user_id) for user_id in members]
    )


def _first_kept() -> int | None:
    """The id of the first event to keep: the first one younger than
    EVENT_RETENTION_DAYS (ids follow time), and at most the newest, which is never
    pruned: the oldest event kept is how a cursor's age is told (one older than it
    missed pruned events), also after a month without any. None: no event at all."""
    cutoff = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
    young = Event.objects.filter(created_at__gte=cutoff).order_by("id")
    kept = young.values_list("id", flat=True).first()
    if kept is None:
        kept = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return kept


def events_prune(*, dry_run: bool = False, batch_size: int = 5000) -> tuple[int, int]:
    """Delete the events past their retention (those before `_first_kept`), in
    batches, with the deletion readers of their project deletions: how many of each
    (or would be, with `dry_run`)."""
    kept = _first_kept()
    if kept is None:
        return 0, 0
    events = Event.objects.filter(id__lt=kept)
    # New events have greater ids: none of their readers is among these.
    readers = DeletedProjectMember.objects.filter(event_id__lt=kept)
    if dry_run:
        return events.count(), readers.count()
    return delete_in_batches(events, batch_size), delete_in_batches(readers, batch_size)


def events_prune_counted(*, dry_run: bool, batch_size: int) -> list[tuple[int, str]]:
    """`events_prune` for `manage.py cleanup_tokens` (taskmanager.cleanups)."""
    events, readers = events_prune(dry_run=dry_run, batch_size=batch_size)
    return [
        (events, "events past their retention"),
        (readers, "records of deleted projects' members"),
    ]
