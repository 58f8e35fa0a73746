"""The JSON line format of every log record, for Django and gunicorn alike (no
Django imports: gunicorn's master loads it before any settings exist)."""

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, and
    whatever `extra` the call passed (the access line's method, path, status...)."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
            # Django puts the request object on its records; its repr has the query
            # string, which may hold a credential. The path is in the access line.
            reserved_attrs=[*RESERVED_ATTRS, "request"],
            json_ensure_ascii=False,
        )
