"""Request bodies: DRF's JSON parser, refusing what it lets through to a 500."""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's parser also accepts JSON that is not Unicode text, a lone surrogate
    escape such as "\\ud800" (the escape of half an emoji); no database, encoder or
    error message that repeats the value can take it. And nesting deeper than
    Python's stack ("[[[[..."), which DRF does not catch, was a 500."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        if _holds_a_lone_surrogate(data):
            raise ParseError(
                "JSON parse error - a string holds a lone surrogate (\\ud800 to \\udfff),"
                " which is not text"
            )
        return data


def _holds_a_lone_surrogate(data: Any) -> bool:
    # Without recursion: the body may be nested nearly as deep as the stack allows.
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return True
    return False
