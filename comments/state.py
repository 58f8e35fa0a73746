"""A comment as clients see it: the API's shape and what its events record."""

from collections.abc import Iterable
from typing import Any

from comments.models import Comment
from taskmanager.datetimes import datetime_out

STATE_FIELDS = ("id", "task", "author", "body", "mentions", "created_at", "updated_at", "edited")
# What an event's `changes` compares.
TRACKED_FIELDS = ("body", "mentions", "edited")


def comment_state(comment: Comment, mention_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """The comment, JSON-ready; its author read with it (`select_related`), its
    mentions given or prefetched (`prefetch_related("mentions")`)."""
    if mention_ids is None:
        mention_ids = (user.pk for user in comment.mentions.all())
    author = comment.author
    return {
        "id": comment.pk,
        "task": comment.task_id,
        "author": None if author is None else {"id": author.pk, "username": author.username},
        "body": comment.body,
        "mentions": sorted(mention_ids),
        "created_at": datetime_out(comment.created_at),
        "updated_at": datetime_out(comment.updated_at),
        "edited": comment.edited,
    }
