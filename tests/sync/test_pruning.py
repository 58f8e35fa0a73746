"""`manage.py cleanup_tokens` prunes the outbox: events older than
EVENT_RETENTION_DAYS go in batches (the newest always stays), with the records of who
may read the project deletions among them."""

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from activity.models import Event
from projects.services import project_create, project_delete
from sync.models import DeletedProjectMember
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def cleanup(*args: str) -> str:
    out = StringIO()
    call_command("cleanup_tokens", *args, stdout=out)
    return out.getvalue()


def age(days: int, **filters: Any) -> None:
    Event.objects.filter(**filters).update(created_at=timezone.now() - timedelta(days=days))


def event_ids() -> list[int]:
    return list(Event.objects.order_by("id").values_list("id", flat=True))


def test_events_older_than_the_retention_are_pruned_and_younger_ones_kept(member):
    for n in range(5):
        TaskFactory(owner=member, title=f"Task {n}")
    ids = event_ids()
    age(31, id__in=ids[:3])
    age(29, id__in=ids[3:4])

    out = cleanup()

    assert event_ids() == ids[3:]
    assert "Removed" in out
    assert f"{len(ids) - len(ids[3:])} events past their retention" in out


def test_the_newest_event_is_kept_however_old(member):
    for n in range(3):
        TaskFactory(owner=member, title=f"Task {n}")
    ids = event_ids()
    age(400)

    cleanup()

    assert event_ids() == ids[-1:]


def test_the_retention_is_a_setting(member, settings):
    settings.EVENT_RETENTION_DAYS = 5
    for n in range(3):
        TaskFactory(owner=member, title=f"Task {n}")
    ids = event_ids()
    age(6, id__in=ids[:2])

    cleanup()

    assert event_ids() == ids[2:]


def test_a_dry_run_counts_and_removes_nothing(member):
    for n in range(3):
        TaskFactory(owner=member, title=f"Task {n}")
    ids = event_ids()
    age(31, id__in=ids[:2])

    out = cleanup("--dry-run")

    assert event_ids() == ids
    assert "Would remove" in out
    assert "2 events past their retention" in out


def test_pruning_goes_in_batches(member):
    for n in range(7):
        TaskFactory(owner=member, title=f"Task {n}")
    ids = event_ids()
    age(31, id__in=ids[:-1])

    out = cleanup("--batch-size", "2")

    assert event_ids() == ids[-1:]
    assert f"{len(ids) - 1} events past their retention" in out


def test_who_may_read_a_project_deletion_goes_with_its_event(member, other_member):
    project = project_create(actor=member, name="Short-lived")
    project_delete(actor=member, project_id=project.pk)
    later = project_create(actor=other_member, name="Later")
    project_delete(actor=other_member, project_id=later.pk)
    first, second = Event.objects.filter(type="project.deleted").order_by("id")
    assert DeletedProjectMember.objects.count() == 2
    age(31, id__lte=first.pk)

    out = cleanup()

    assert list(DeletedProjectMember.objects.values_list("event_id", "user_id")) == [
        (second.pk, other_member.pk)
    ]
    assert "1 records of deleted projects' members" in out


def test_nothing_to_prune_is_nothing_removed(db):
    assert "0 events past their retention" in cleanup()
