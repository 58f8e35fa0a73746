"""One circuit breaker for the Redis calls of a server process: a Redis that hangs
costs each call its whole timeout, several a request. After a call times out, the
process skips Redis for `REDIS_BREAKER_SECONDS`, as if it were down (each caller's
fallback takes over at once), then lets one caller at a time try again. Callers need
not know: the cache's pool (`BreakerConnectionPool`) and the channel layer
(realtime.channel_layers) ask it. docs/security.md, "A Redis that hangs".
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taskmanager.metrics import REDIS_BREAKER_OPENED

logger = logging.getLogger(__name__)


class RedisSkipped(RedisConnectionError):
    """Raised instead of a Redis call while the breaker is open: callers treat it as
    the connection error of a Redis that is down (it is one)."""

    def __init__(self) -> None:
        super().__init__("Redis skipped: it timed out a moment ago (taskmanager.redis_breaker)")


class CircuitBreaker:
    """Closed (calls go through) until `failed`; then open for `open_seconds`, after
    which one caller is let through at a time, once per period, until one `succeeded`.
    Safe to use from any thread and from event loops (its lock is never held while
    waiting on anything)."""

    def __init__(
        self, name: str, open_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.open_seconds = open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # None while closed; else when the next caller may try again.
        self._retry_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._retry_at is not None

    def allow(self) -> bool:
        """Whether this call may go to Redis now."""
        if self._retry_at is None:  # the common case, without the lock
            return True
        with self._lock:
            if self._retry_at is None:
                return True
            now = self._clock()
            if now < self._retry_at:
                return False
            # Half open: this caller tries; the others skip until it reports, or for
            # another period if it never does (cancelled).
            self._retry_at = now + self.open_seconds
            return True

    def succeeded(self) -> None:
        """Redis answered (an error reply is an answer too)."""
        if self._retry_at is None:
            return
        with self._lock:
            was_open, self._retry_at = self._retry_at is not None, None
        if was_open:
            logger.info("%s answers again: calls to it resume", self.name)

    def failed(self, exc: BaseException) -> None:
        """A call timed out: skip Redis for a period from now."""
        with self._lock:
            was_closed = self._retry_at is None
            self._retry_at = self._clock() + self.open_seconds
        if was_closed:
            REDIS_BREAKER_OPENED.inc()
            logger.warning(
                "%s did not answer in time (%s: %s): skipped for %s s, as if down, "
                "then tried again",
                self.name,
                type(exc).__name__,
                exc,
                self.open_seconds,
            )


class SkippedCallsFilter(logging.Filter):
    """Drops the records of the calls the breaker skipped. Each caller logs its
    fallback as for a Redis that is down, django-redis with a traceback, several
    times a request; the breaker has said once that Redis is skipped, and says when
    it answers again (a trial that times out is still logged by its caller)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        for _ in range(10):  # the chain of causes, however long or looped
            if exc is None:
                break
            if isinstance(exc, RedisSkipped):
                return False
            exc = exc.__cause__ or exc.__context__
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(arg, RedisSkipped) for arg in args)


_breaker: CircuitBreaker | None = None
_breaker_lock = threading.Lock()


def redis_breaker() -> CircuitBreaker:
    """The process's breaker for Redis (cache, throttles and channel layer share one
    server, so a timeout seen by one of them stands for all)."""
    global _breaker
    if _breaker is None:
        with _breaker_lock:
            if _breaker is None:
                _breaker = CircuitBreaker("Redis", settings.REDIS_BREAKER_SECONDS)
    return _breaker


# Sync connections (redis-py, used by django-redis and its direct users).


class _ReportingConnection(AbstractConnection):
    """Tells the breaker what became of each command: a timeout, or an answer."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            super().send_packed_command(command, check_health)
        except RedisTimeoutError as exc:
            redis_breaker().failed(exc)
            raise

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().read_response(*args, **kwargs)
        except RedisTimeoutError as exc:
            redis_breaker().failed(exc)
            raise
        except ResponseError:
            redis_breaker().succeeded()
            raise
        redis_breaker().succeeded()
        return response


class BreakerConnection(_ReportingConnection, Connection):
    pass


class BreakerSSLConnection(_ReportingConnection, SSLConnection):
    pass


class BreakerUnixDomainSocketConnection(_ReportingConnection, UnixDomainSocketConnection):
    pass


# What the URL's scheme chose (redis://, rediss://, unix://) -> the same, reporting.
_Scheme = type[Connection | UnixDomainSocketConnection]
_REPORTING: dict[_Scheme, _Scheme] = {
    Connection: BreakerConnection,
    SSLConnection: BreakerSSLConnection,
    UnixDomainSocketConnection: BreakerUnixDomainSocketConnection,
}


class BreakerConnectionPool(ConnectionPool):
    """redis-py's pool, asking the breaker before a command or a pipeline takes a
    connection (so one call is one question, however many round trips it makes)."""

    def __init__(
        self,
        connection_class: _Scheme = Connection,
        **kwargs: Any,
    ) -> None:
        reporting = _REPORTING.get(connection_class)
        if reporting is None:
            raise ImproperlyConfigured(f"No reporting Redis connection for {connection_class}.")
        super().__init__(connection_class=reporting, **kwargs)

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        breaker = redis_breaker()
        if not breaker.allow():
            raise RedisSkipped()
        started = time.monotonic()
        try:
            return super().get_connection(*args, **kwargs)
        except RedisTimeoutError as exc:
            breaker.failed(exc)
            raise
        except RedisConnectionError as exc:
            # Refused at once: Redis is down, not hanging. Slow to fail: as a timeout.
            connect_timeout = self.connection_kwargs.get("socket_connect_timeout") or 0
            if time.monotonic() - started >= connect_timeout > 0:
                breaker.failed(exc)
            raise
