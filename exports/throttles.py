from django.conf import settings
from rest_framework.request import Request
from rest_framework.views import APIView

from taskmanager.throttles import FixedWindowThrottle, hashed

# The feed's own rate (`THROTTLE_RATES["calendar_feed"]`) where one is configured,
# the API's `read` rate otherwise.
FEED_SCOPE = "calendar_feed"


class CalendarFeedThrottle(FixedWindowThrottle):
    """Fetches of one feed URL per window. Keyed by the token (hashed: the counter's
    key is no credential), not the client's address: a calendar service fetches many
    people's feeds from a few addresses, which one count would throttle together. A
    token 256 bits long needs no per-address guard against guessing."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = FEED_SCOPE if FEED_SCOPE in settings.THROTTLE_RATES else "read"
        return super().allow_request(request, view)

    def identity(self, request: Request, view: APIView) -> str | None:
        return f"calendar:{hashed(str(view.kwargs.get('token', '')))}"
