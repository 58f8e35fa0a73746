"""Gauges read from the database when metrics are scraped (the webhook queue, the
worker's heartbeat): the same in every process, so served as read, never summed over
processes. Apps register their readers in AppConfig.ready (monitoring imports none)."""

import logging
from collections.abc import Callable, Iterable

from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from taskmanager.registry import Registry

logger = logging.getLogger(__name__)

Reader = Callable[[], Iterable[Metric]]
_readers: Registry[Reader] = Registry()
register = _readers.register


class _StateCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        for reader in _readers:
            try:
                yield from list(reader())
            except Exception as exc:  # the database away: the other metrics still go out
                logger.warning("metrics: %r could not be read (%s)", reader, type(exc).__name__)


def registry() -> CollectorRegistry:
    """A registry of the registered readers, for one scrape."""
    found = CollectorRegistry(auto_describe=False)
    found.register(_StateCollector())
    return found
