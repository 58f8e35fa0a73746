from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from comments.models import Comment
from comments.state import STATE_FIELDS, comment_state
from projects.serializers import UserRefSerializer
from taskmanager.schema import NOT_BLANK
from taskmanager.serializers import StrictFieldsMixin

MAX_BODY = 10000
BLANK = "A comment needs some text besides spaces."


# Written out rather than through the fields, as tasks.serializers does.
class CommentOutputSerializer(serializers.ModelSerializer[Comment]):
    """A comment on a task. `author` is null once that account is deleted; `mentions`
    are the ids of the project members its body mentions (`@username`); `edited`
    turns true when its author first changes the body."""

    author = UserRefSerializer(read_only=True, allow_null=True)
    mentions = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    def to_representation(self, instance: Comment) -> dict[str, Any]:
        return comment_state(instance)

    class Meta:
        model = Comment
        fields = list(STATE_FIELDS)
        read_only_fields = fields


@extend_schema_field(
    {"type": "string", "minLength": 1, "maxLength": MAX_BODY, "pattern": NOT_BLANK}
)
class BodyField(serializers.CharField):
    """Text kept as written (spaces and line breaks included), but not only spaces."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_BODY, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not value.strip():
            raise serializers.ValidationError(BLANK, code="blank")
        return value


class CommentInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """The comment's text: 1 to 10,000 characters, not only spaces. `@username` of a
    member of the task's project mentions them (and notifies them); other names are
    left as text."""

    body = BodyField(help_text="The text of the comment, as written.")

    # Never partial, on PATCH too: the body is the change, and required (as
    # projects.serializers.MemberRoleInputSerializer).
    @property
    def partial(self) -> bool:
        return False

    @partial.setter
    def partial(self, value: bool) -> None:
        pass
