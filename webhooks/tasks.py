"""The background tasks of webhooks (django-tasks, its database backend): run by
`manage.py db_worker`. Each is a nudge that may come twice or late: what to do is
read from the database (the outbox's cursor, the deliveries due), so a lost or
repeated task changes nothing but timing, and the worker also looks every second."""

import logging
from datetime import datetime

from django.core.cache import cache
from django_tasks import task

from webhooks import sending, services

logger = logging.getLogger(__name__)

# While this key lives, a dispatch is already queued: writes in a burst queue one.
_DISPATCH_QUEUED = "webhooks:dispatch-queued"
_QUEUED_SECONDS = 1


@task()
def dispatch() -> None:
    """Outbox events to deliveries, then send what is due."""
    cache.delete(_DISPATCH_QUEUED)  # events committed from now on queue another
    services.dispatch_all()
    sending.senders().pump()


@task()
def deliver() -> None:
    """Send what is due (new deliveries, retries, attempts whose worker died)."""
    sending.senders().pump()


def request_dispatch() -> None:
    """Queue `dispatch` unless one is queued already (after a commit with events)."""
    try:
        queued = not cache.add(_DISPATCH_QUEUED, 1, timeout=_QUEUED_SECONDS)
    except Exception:  # the cache is down: queue it anyway
        queued = False
    if not queued:
        _enqueue(dispatch)


def request_delivery(at: datetime | None = None) -> None:
    """Queue `deliver`, to run at `at` (a retry) or now."""
    _enqueue(deliver.using(run_after=at) if at is not None else deliver)


def _enqueue(job: object) -> None:
    try:
        job.enqueue()  # type: ignore[attr-defined]
    except Exception:
        # The worker's own look every second finds the work anyway.
        logger.exception("a webhook task could not be queued")
