from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.caches, deploy=True)
def shared_state_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Several server processes without Redis serve stale lists, count throttles per
    process and lose task events between gunicorn and daphne."""
    if settings.REDIS_URL:
        return []
    return [
        CheckWarning(
            "REDIS_URL is not set: the cache, throttle counters and the channel layer "
            "live inside each process.",
            hint="Set REDIS_URL whenever more than one process serves (gunicorn workers, "
            "daphne beside gunicorn). One process on the embedded defaults: make run.",
            id="taskmanager.W001",
        )
    ]
