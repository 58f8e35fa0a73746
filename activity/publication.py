"""What the outbox published: each event recorded is handed, after its transaction
commits, to every subscriber (the delivery apps subscribe in their AppConfig.ready).
An event of a transaction that rolled back is never published."""

import logging
from collections.abc import Callable

from activity.models import Event

logger = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Receive every committed event; subscribing twice changes nothing."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def publish(event: Event) -> None:
    """Hand a committed event to every subscriber; one that fails does not keep it
    from the others (the event stays in the outbox for clients to fetch)."""
    for subscriber in _subscribers:
        try:
            subscriber(event)
        except Exception:
            logger.exception("event %s not handed to %r", event.pk, subscriber)
