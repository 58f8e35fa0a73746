"""Prometheus metrics, defined once here so every module counts into the same objects
(and `/monitoring/metrics/` serves them).

With several server processes (gunicorn workers, daphne) set PROMETHEUS_MULTIPROC_DIR
to a directory they share: prometheus_client then keeps each process's values in
files there, and `/monitoring/metrics/` sums them (monitoring.views.metrics).
"""

import logging

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "taskmanager_http_requests_total",
    "HTTP requests answered, by view (URL name), method and status.",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "taskmanager_http_request_duration_seconds",
    "Time to answer an HTTP request, by view and method.",
    ["view", "method"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
THROTTLED_REQUESTS = Counter(
    "taskmanager_throttled_requests_total",
    "Requests refused with 429, by throttle scope.",
    ["scope"],
)
LOGINS = Counter(
    "taskmanager_logins_total",
    "Password logins (login and token endpoints), by outcome.",
    ["outcome"],
)
TASK_LIST_CACHE = Counter(
    "taskmanager_task_cache_total",
    "Lookups of cached task lists and statistics, by kind and result (hit, miss).",
    ["kind", "result"],
)
WEBSOCKETS_OPEN = Gauge(
    "taskmanager_websockets_open",
    "WebSocket connections currently open (summed over live processes).",
    multiprocess_mode="livesum",
)
TASK_EVENTS_SENT = Counter(
    "taskmanager_task_events_sent_total",
    "Events handed to the channel layer (a message per event, or per batch), by type.",
    ["kind"],
)
TASK_EVENT_SEND_FAILURES = Counter(
    "taskmanager_task_event_send_failures_total",
    "Events the channel layer could not take (Redis down or slow); "
    "clients get them on resume or from the HTTP feed.",
)
TASK_EVENTS_MISSED = Counter(
    "taskmanager_task_events_missed_total",
    "Events a socket process found it never received (numbered sends with a gap); "
    "its sockets caught up from the outbox, or, with more than a resume sends, were "
    "closed with 4503 to resume.",
)
CHANNEL_LAYER_DROPPED = Counter(
    "taskmanager_channel_layer_dropped_total",
    "Messages the channel layer dropped because a receiving channel was full "
    "(a socket process whose fan-out fell behind).",
)

REDIS_BREAKER_OPENED = Counter(
    "taskmanager_redis_breaker_opened_total",
    "Times a server process stopped calling Redis for a few seconds after a call timed "
    "out (taskmanager.redis_breaker); meanwhile it answers as if Redis were down.",
)


class ChannelsRedisDropCounter(logging.Filter):
    """Counts the messages channels-redis drops in `group_send` (a process's Redis
    list full: it fell behind; realtime.channel_layers counts its in-process drops).

    channels-redis does not report full channels to the caller; it only logs
    "%s of %s channels over capacity in group %s" at INFO. This filter, set on the
    `channels_redis.core` logger, turns those records into the drop counter and lets
    them through. tests/realtime/test_channel_layer.py overflows a real channel, so a
    change of that message in channels-redis fails the suite instead of going unseen.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "%s of %s channels over capacity in group %s" and record.args:
            dropped = record.args[0] if isinstance(record.args, tuple) else 0
            if isinstance(dropped, int) and dropped > 0:
                CHANNEL_LAYER_DROPPED.inc(dropped)
        return True


_DROP_COUNTER = ChannelsRedisDropCounter()


def channels_redis_drop_counter() -> ChannelsRedisDropCounter:
    """The one filter instance for LOGGING: `dictConfig` runs again on every
    `django.setup()` and adds filters without removing old ones, but never adds the
    same instance twice, so each drop is counted once."""
    return _DROP_COUNTER


WEBHOOK_ATTEMPTS = Counter(
    "taskmanager_webhook_attempts_total",
    "Webhook delivery attempts, by outcome: delivered, retry (failed, retried later),"
    " failed (no attempt left), gone (410: webhook disabled), stale (given up meanwhile).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "taskmanager_webhook_attempt_duration_seconds",
    "Time of one webhook delivery attempt (connection, request and answer).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
