import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class CalendarFeed(models.Model):
    """A user's secret calendar feed (`/calendar/<token>.ics`). Only the SHA-256 of
    the token is kept: a leaked table names no working URL. One per user; a new
    token replaces the old one, whose URL then stops working."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    # Unique, so also the index a feed's fetch looks the token up by.
    token_hash = models.CharField(max_length=64, unique=True)
    rotated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"calendar feed of user {self.user_id}"

    @staticmethod
    def hash_token(token: str) -> str:
        """What is stored of a token and looked up by: a fast hash is enough for 256
        random bits (a password's slow hash guards guessable secrets)."""
        return hashlib.sha256(token.encode()).hexdigest()
