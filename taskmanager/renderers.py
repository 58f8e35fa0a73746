"""JSON responses rendered by orjson: the same bytes as DRF's JSONRenderer, faster
(bench/RESULTS.md, "Figures behind the code").

DRF's own encoder still decides what the standard library cannot encode (dates as
DRF writes them, lazy strings, Decimal, querysets). Anything orjson refuses (an
integer beyond 64 bits, say) and every indented rendering (`; indent=4`, the
browsable API) go to DRF's renderer, so no response depends on orjson's limits.
"""

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

# Datetimes to DRF's encoder: it writes UTC as "Z", as the API always has.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_default = JSONEncoder().default
# As DRF does: JSON stays a strict subset of JavaScript.
_LINE_SEPARATORS = (("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))


class ORJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        # DRF's get_indent takes no media type (None) as well; its stub says str.
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:  # type: ignore[arg-type]
            return super().render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        for raw, escaped in _LINE_SEPARATORS:
            rendered = rendered.replace(raw, escaped)
        return rendered
