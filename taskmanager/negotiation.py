"""DRF's content negotiation, its choice of renderer remembered.

Which renderer answers depends only on the view's renderers, the `Accept` header and
the format asked for (`?format=` or a suffix), yet DRF parses the header and each
renderer's media type again on every request: 50-70 µs of CPU a request here
(bench/RESULTS.md, "Round trips without redis-py's pipeline"). Clients send a handful
of distinct headers, so the answers are kept per process, a bounded number of them;
a refusal (406, or 404 for an unknown format) is not kept and is worked out again.
"""

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Past this many answers, further ones are worked out each time rather than kept: an
# `Accept` header made up anew for every request must not grow the process.
MAX_REMEMBERED = 256

# (renderer classes, Accept, format) -> (the chosen renderer's index, media type).
_Key = tuple[tuple[type[BaseRenderer], ...], str | None, str | None]
_chosen: dict[_Key, tuple[int, str]] = {}


class RememberedNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        offered = list(renderers)
        # Reading the query string builds the request's QueryDict: only when there is one.
        format = format_suffix or (
            request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
            if request.META.get("QUERY_STRING")
            else None
        )
        accept = request.META.get("HTTP_ACCEPT")
        key = (tuple(type(renderer) for renderer in offered), accept, format)
        chosen = _chosen.get(key)
        if chosen is not None:
            return offered[chosen[0]], chosen[1]
        renderer, media_type = super().select_renderer(request, offered, format_suffix)
        # One of the view's renderers (a format narrows the list, keeping its members).
        found = next((i for i, one in enumerate(offered) if one is renderer), None)
        if found is not None and len(_chosen) < MAX_REMEMBERED:
            _chosen[key] = (found, media_type)
        return renderer, media_type
