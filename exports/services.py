"""Writes of the exports app: the calendar feed's token."""

import secrets

from django.utils import timezone

from accounts.models import User
from exports.models import CalendarFeed

# 256 bits: guessing a feed's URL is out of reach, so its fetch needs no lockout.
TOKEN_BYTES = 32


def calendar_feed_rotate(*, user: User) -> str:
    """A new secret token for the user's calendar feed, returned once: only its hash
    is stored. It replaces the previous token, whose URL stops working at once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    CalendarFeed.objects.update_or_create(
        user=user,
        defaults={"token_hash": CalendarFeed.hash_token(token), "rotated_at": timezone.now()},
    )
    return token
