import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.roles import ROLE_PRECEDENCE, Role


def lowered(name: str) -> Lower:
    """`name` lower-cased by the database, as the case-insensitive unique indexes
    lower their column (`username__lower=lowered(name)`). Python's `str.lower` is
    not the same function: PostgreSQL keeps a final sigma, SQLite folds ASCII only,
    and a name lowered on one side only would miss its account."""
    return Lower(models.Value(name, output_field=models.CharField()))


class User(AbstractUser):
    """A person who uses the API; username and email are unique whatever their case."""

    email = models.EmailField("email address")

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # Also the indexes behind case-insensitive login by username or email
            # (`username__lower=lowered(name)`, see AccountsConfig.ready).
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    @property
    def role(self) -> str:
        """The highest role group the user belongs to; superusers are admins."""
        cached = getattr(self, "_role", None)
        if cached is not None:
            return str(cached)
        if self.is_superuser:
            return Role.ADMIN
        names = {group.name for group in self.groups.all()}
        return next((role for role in ROLE_PRECEDENCE if role in names), Role.MEMBER)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Users rebuilt from the authentication cache carry no password hash; saving
        # one would wipe it. Services reload users from the database before writing.
        if getattr(self, "_is_snapshot", False):
            raise RuntimeError("A cached user snapshot cannot be saved.")
        super().save(*args, **kwargs)


class UserSession(models.Model):
    """One login: the refresh tokens rotated from it and their access tokens.

    Its id is the `sid` claim of every token issued for it; ending it revokes them all.
    """

    class EndReason(models.TextChoices):
        LOGOUT = "logout", "Logout"
        LOGOUT_ALL = "logout_all", "Logout everywhere"
        REVOKED = "revoked", "Revoked by the user"
        PASSWORD_CHANGE = "password_change", "Password changed"
        DEACTIVATED = "deactivated", "User deactivated"
        REPLAY = "replay", "Refresh token replayed"
        ADMIN = "admin", "Ended by an operator"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_sessions")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    # The refresh token that may be rotated next; any other one presented is a replay.
    refresh_jti = models.CharField(max_length=64)
    # When the current refresh token expires; the session is dead after that.
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, choices=EndReason.choices, blank=True)

    class Meta:
        indexes = [
            # The user's live sessions: GET /auth/sessions/, logout-all, deactivation.
            models.Index(fields=["user", "ended_at"], name="accounts_session_user_live"),
            # cleanup_tokens: sessions ended or expired long ago.
            models.Index(fields=["ended_at"], name="accounts_session_ended"),
            models.Index(fields=["expires_at"], name="accounts_session_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.id}"
