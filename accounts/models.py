import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts import usernames
from accounts.roles import ROLE_PRECEDENCE, Role


class AccountManager(UserManager["User"]):
    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # NFKC as well as the domain's case: every door that stores an email (the
        # services, the admin's forms through `User.clean`, createsuperuser) uses it.
        return usernames.normalize_email(email or "")

    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> "User":
        """createsuperuser's door: the names are refused as on registration (the
        command shows the ValidationError's messages)."""
        username = self.model.normalize_username(username)
        email = self.normalize_email(email)
        errors = {
            field: messages
            for field, name in (("username", username), ("email", email))
            if (messages := usernames.login_name_errors(name, field=field))
        }
        if errors:
            raise ValidationError(errors)
        from accounts import lifecycle  # imports this module

        with transaction.atomic():
            user = super().create_superuser(username, email, password, **extra)
            lifecycle.user_created(user)
        return user


class User(AbstractUser):
    """A person who uses the API; username and email are unique whatever their case,
    and no two look alike (accounts.usernames)."""

    email = models.EmailField("email address")
    # Digests of the TR39 skeletons of the username and email, kept by `save`: a new
    # name's look-alikes are then one indexed query (accounts.usernames).
    # db_default: a row inserted by SQL (a bulk import, bench/) still goes in; its
    # empty skeleton is filled by `manage.py refresh_name_skeletons`.
    username_skeleton = models.CharField(max_length=64, editable=False, default="", db_default="")
    email_skeleton = models.CharField(max_length=64, editable=False, default="", db_default="")
    # Set by `save` whenever a new password is saved, whatever the door (the services,
    # the admin, `manage.py changepassword`); not by a hash upgrade at login. Personal
    # API tokens created before it are refused. Null: not changed since this column.
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[AccountManager] = AccountManager()

    # django-stubs does not declare AbstractUser.Meta.
    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # Also the indexes behind case-insensitive login by username or email
            # (`username__lower=lowered(name)`, see AccountsConfig.ready).
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        indexes = [
            # Look-alikes of a new name, among usernames and emails alike (not
            # unique: databases from before these columns may hold look-alike pairs).
            models.Index(fields=["username_skeleton"], name="accounts_user_username_skel"),
            models.Index(fields=["email_skeleton"], name="accounts_user_email_skel"),
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
        # The skeletons are derived from the names: whichever door writes a name (a
        # service, the admin's forms, createsuperuser), its skeleton follows.
        for field, value in usernames.skeleton_columns(
            username=self.username, email=self.email
        ).items():
            setattr(self, field, value)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"username", "email"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "username_skeleton", "email_skeleton"}
        # Django keeps the raw password only after `set_password` (a hash upgrade at
        # login clears it before saving): this save stores a new password.
        if self._password is not None:  # type: ignore[attr-defined]
            self.password_changed_at = timezone.now()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "password" in update_fields:
                kwargs["update_fields"] = {*update_fields, "password_changed_at"}
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


class PersonalToken(models.Model):
    """A personal API token: a long-lived Bearer credential of its user for scripts,
    limited to its scopes (accounts.scopes). Only the SHA-256 of the token is stored;
    the token itself is shown once, when created (docs/personal-tokens.md).

    Deleting the row revokes it; so do deactivating the user and changing their
    password (the services delete the rows, and a token older than the user's
    `password_changed_at` is refused whatever door changed it)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_tokens")
    name = models.CharField(max_length=100)
    # Scope names (accounts.scopes.TokenScope), in that enum's order.
    scopes = models.JSONField(default=list)
    # The token's first characters ("tm_pat_" and 6 more): to recognise it in a list,
    # a log or a secret scanner's report; far too short to guess the rest from.
    prefix = models.CharField(max_length=16)
    # Hex SHA-256 of the whole token: the token has 256 random bits, so no salt or
    # slow hash is needed, and a request finds its row by this unique index.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Written at most once a minute per token (accounts.auth_cache).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # GET /auth/tokens/ (newest first) and the per-user count on create.
            models.Index(fields=["user", "-created_at"], name="accounts_pat_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"
