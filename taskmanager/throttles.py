"""Fixed-window throttles counted with atomic increments in the shared cache.

Rates come from `settings.THROTTLE_RATES` (read per request, so every process and
every test sees the configured value). With Redis the count is one INCR shared by
all processes; with the local-memory cache it is per process.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpRequest
from django_redis.cache import RedisCache
from redis.exceptions import RedisError, ResponseError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from taskmanager import readahead
from taskmanager.metrics import THROTTLED_REQUESTS
from taskmanager.net import client_ip

if TYPE_CHECKING:
    from rest_framework.views import APIView

    _ViewBase = APIView
else:
    # DEFAULT_THROTTLE_CLASSES names ReadWriteThrottle, and DRF imports it while it
    # defines APIView: this module must not import rest_framework.views at run time.
    _ViewBase = object

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RateLimit(NamedTuple):
    limit: int
    remaining: int
    reset: int  # seconds until the window ends


# The request attribute the throttle leaves its RateLimit on for the headers.
_RATE_LIMIT = "rate_limit"


def parse_rate(rate: str) -> tuple[int, int]:
    """'5/min' -> (5, 60): requests allowed per window of that many seconds."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


def window_start(now: float, window: int) -> int:
    return int(now // window) * window


def counter_key(scope: str, ident: str, start: int) -> str:
    return f"throttle:{scope}:{ident}:{start}"


def user_ident(user_id: int) -> str:
    return f"user:{user_id}"


def hashed(value: str) -> str:
    # Keeps user-supplied text (usernames) out of cache keys: bounded, no odd bytes.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class FixedWindowThrottle(BaseThrottle):
    """Allows `n` requests per window per identity; subclasses say what identity is."""

    scope = ""

    def __init__(self) -> None:
        self._wait = 0.0

    def identity(self, request: Request, view: APIView) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        return self.count(request, self.identity(request, view))

    def count(
        self,
        request: HttpRequest | Request,
        ident: str | None,
        amount: int = 1,
        *,
        report: bool = True,
    ) -> bool:
        """Counts one request of `ident` in this scope's window (or `amount` things it
        does: tasks changed in bulk); False once over the rate (`wait()` then says for
        how long). Also for plain Django views (the login forms), so that they count
        in the API's windows. `report`: the X-RateLimit-* headers tell this count (the
        request's own throttle), not a count of things on top of it."""
        rate = settings.THROTTLE_RATES.get(self.scope)
        if not rate or ident is None:
            return True
        allowed, window = parse_rate(rate)
        now = time.time()
        start = window_start(now, window)
        key = counter_key(self.scope, ident, start)
        # Counted already when authentication read ahead (taskmanager.readahead),
        # unless the window has turned since.
        count = readahead.counted(request, key) if amount == 1 else None
        if count is None:
            count = self._increment(key, window, amount)
        if count is None:  # the cache is down (logged): let the request through
            return True
        self._wait = start + window - now
        if report:
            # What the X-RateLimit-* headers report (RateLimitHeadersMixin).
            state = RateLimit(allowed, max(0, allowed - count), math.ceil(self._wait))
            setattr(request, _RATE_LIMIT, state)
        if count > allowed:
            THROTTLED_REQUESTS.labels(scope=self.scope).inc()
            return False
        return True

    def wait(self) -> float:
        return self._wait

    @staticmethod
    def _increment(key: str, window: int, amount: int = 1) -> int | None:
        backend = caches["default"]
        if isinstance(backend, RedisCache):
            return _redis_increment(backend, key, window, amount)
        # Local memory: add() creates the counter with its expiry only if missing;
        # incr() is atomic under the backend's lock. If the window expired between the
        # two, start it again.
        for _ in range(2):
            cache.add(key, 0, timeout=window + 1)
            try:
                value = cache.incr(key, amount)
            except ValueError:
                continue
            except TypeError:  # not a number: incr adds 1 to whatever it finds
                return _restart_corrupt_counter(key, window)
            if not isinstance(value, int):  # a float or a bool still adds up
                return _restart_corrupt_counter(key, window)
            return value
        logger.warning("throttle counter %s could not be started", key)
        return None


def _restart_corrupt_counter(key: str, window: int) -> int:
    """A counter that is not a number (nothing this code wrote) counts from this
    request on, rather than failing every request or letting them all through."""
    logger.warning("throttle counter %s is not a number; restarted", key)
    cache.set(key, 1, timeout=window + 1)
    return 1


def _redis_increment(backend: RedisCache, key: str, window: int, amount: int = 1) -> int | None:
    """One round trip: INCR, and EXPIRE ... NX so only a new counter gets its expiry."""
    try:
        redis_key = backend.make_key(key)
        pipe = backend.client.get_client(write=True).pipeline(transaction=False)
        pipe.incr(redis_key, amount)
        pipe.expire(redis_key, window + 1, nx=True)
        count, _ = pipe.execute()
    except ResponseError:
        # INCR of a value that is not an integer: start the counter again, with the
        # window's expiry (the EXPIRE above may have kept the old value's).
        logger.warning("throttle counter %s is not a number; restarted", key)
        try:
            backend.client.get_client(write=True).set(redis_key, 1, ex=window + 1)
        except RedisError:
            logger.warning("throttle not counted: Redis unavailable", exc_info=True)
            return None
        return 1
    except RedisError:
        logger.warning("throttle not counted: Redis unavailable", exc_info=True)
        return None
    return int(count)


class IPThrottle(FixedWindowThrottle):
    def identity(self, request: Request, view: APIView) -> str | None:
        return client_ip(request)


class ReadWriteThrottle(FixedWindowThrottle):
    """`read` for safe methods, `write` for the rest; per user, or per client IP for
    anonymous requests."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = self.scope_of(request)
        return super().allow_request(request, view)

    @staticmethod
    def scope_of(request: Request) -> str:
        return "read" if request.method in SAFE_METHODS else "write"

    @classmethod
    def counter_for(cls, request: Request, user_id: int) -> readahead.Counter | None:
        """The counter `allow_request` counts for this user's request now, counted
        ahead with authentication (readahead.CountsAhead); None when the scope has
        no rate."""
        scope = cls.scope_of(request)
        rate = settings.THROTTLE_RATES.get(scope)
        if not rate:
            return None
        _allowed, window = parse_rate(rate)
        start = window_start(time.time(), window)
        return readahead.Counter(counter_key(scope, user_ident(user_id), start), window)

    def identity(self, request: Request, view: APIView) -> str | None:
        user = request.user
        if user is not None and user.is_authenticated:
            return user_ident(user.pk)
        return f"ip:{client_ip(request)}"


class BulkTasksThrottle(FixedWindowThrottle):
    """Tasks changed or deleted in bulk per user and window, on top of the one write
    each bulk request counts: counted by the view once it knows how many."""

    scope = "bulk_tasks"

    def identity(self, request: Request, view: APIView) -> str | None:
        return user_ident(request.user.pk) if request.user.is_authenticated else None

    def allow_request(self, request: Request, view: APIView) -> bool:
        return True  # counted by `count(..., amount=)` once the body is read


class RateLimitHeadersMixin(_ViewBase):
    """Adds X-RateLimit-Limit, -Remaining and -Reset to every response of a
    throttled view, the 429s included."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        state = getattr(request, _RATE_LIMIT, None)
        if isinstance(state, RateLimit):
            response["X-RateLimit-Limit"] = str(state.limit)
            response["X-RateLimit-Remaining"] = str(state.remaining)
            response["X-RateLimit-Reset"] = str(state.reset)
        return response
