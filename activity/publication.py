"""What the outbox published: the events recorded are handed, after their transaction
commits, to every subscriber (the delivery apps subscribe in their AppConfig.ready),
in the order of their ids, those inserted together (activity.many_events) in one
list. An event of a transaction that rolled back is never published."""

import logging
from collections.abc import Callable, Sequence

from activity.models import Event

logger = logging.getLogger(__name__)

Subscriber = Callable[[Sequence[Event]], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Receive every committed event; subscribing twice changes nothing."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def publish(events: Sequence[Event]) -> None:
    """Hand committed events to every subscriber; one that fails does not keep them
    from the others (the events stay in the outbox for clients to fetch)."""
    for subscriber in _subscribers:
        try:
            subscriber(events)
        except Exception:
            logger.exception(
                "events %s to %s not handed to %r", events[0].pk, events[-1].pk, subscriber
            )
