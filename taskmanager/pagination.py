from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """Limit/offset pages of 20 by default, at most 100.

    A limit above 100 is capped; a limit or offset that is not a whole number is a
    400 naming the parameter rather than silently falling back to the default.
    """

    default_limit = 20
    max_limit = 100

    def get_limit(self, request: Request) -> int | None:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return min(_non_negative(self.limit_query_param, raw, minimum=1), self.max_limit)

    def get_offset(self, request: Request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _non_negative(self.offset_query_param, raw, minimum=0)


def _non_negative(name: str, raw: str, *, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < minimum:
        raise ValidationError({name: [f"Must be a whole number of at least {minimum}."]})
    return value
