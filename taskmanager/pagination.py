from collections.abc import Callable
from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """Limit/offset pages of 20 by default, at most 100.

    A limit or offset that is not a whole number in its range is a 400 naming the
    parameter, as the schema's bounds say, rather than a silent default or cap.
    """

    default_limit = 20
    max_limit = 100
    # Deep pages cost a scan of every row skipped (SQL OFFSET): a million is past any
    # list a person reads page by page, and bounds what one request can make the
    # database walk.
    max_offset = 1_000_000

    # How a view counts the whole list, if not with `queryset.count()` (the task list
    # keeps per-project counts: tasks.caching.count_by_project).
    count_with: Callable[[Any], int] | None = None

    def get_count(self, queryset: Any) -> int:
        if self.count_with is not None:
            return self.count_with(queryset)
        return int(super().get_count(queryset))

    def get_limit(self, request: Request) -> int | None:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return _whole_number(self.limit_query_param, raw, minimum=1, maximum=self.max_limit)

    def get_offset(self, request: Request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _whole_number(self.offset_query_param, raw, minimum=0, maximum=self.max_offset)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"How many results a page holds (default {self.default_limit}).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_limit,
                    "default": self.default_limit,
                },
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": "How many results to skip before the page starts.",
                "schema": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": self.max_offset,
                    "default": 0,
                },
            },
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        page = "/api/v1/tasks/?{}={}&{}=20"
        return {
            "type": "object",
            # Every page carries all four; `next` and `previous` are null at either end.
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many results the whole list holds.",
                },
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page's URL; null on the last page.",
                    "example": "https://example.com"
                    + page.format(self.offset_query_param, 40, self.limit_query_param),
                },
                "previous": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The previous page's URL; null on the first page.",
                    "example": "https://example.com"
                    + page.format(self.offset_query_param, 0, self.limit_query_param),
                },
                "results": schema,
            },
        }


def _whole_number(name: str, raw: str, *, minimum: int, maximum: int) -> int:
    # Digits only, so no sign, space, fraction or exponent; the length check keeps
    # int() away from thousands of digits.
    digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum))
    if not digits or not minimum <= int(raw) <= maximum:
        raise ValidationError({name: [f"Must be a whole number from {minimum} to {maximum}."]})
    return int(raw)
