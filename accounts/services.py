"""Every write of the accounts app: users, roles, sessions and their tokens."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID, uuid4

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework_simplejwt.exceptions import AuthenticationFailed, ExpiredTokenError, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import auth_cache, lifecycle, personal_tokens, tokens, usernames
from accounts.models import PersonalToken, User, UserSession
from accounts.roles import Role
from accounts.scopes import ALL_SCOPES
from taskmanager.batches import delete_in_batches
from taskmanager.exceptions import ConflictError, DomainValidationError, PermissionDeniedError

EndReason = UserSession.EndReason

_UNIQUE_FIELDS = {
    "accounts_user_username_ci_unique": "username",
    "accounts_user_email_ci_unique": "email",
    "username": "username",
}


def user_register(*, username: str, email: str, password: str) -> User:
    """Create a member account. Uniqueness races end as a 400 naming the field, and
    so do look-alikes of another account's names (accounts.usernames)."""
    user = User(
        username=User.normalize_username(username), email=User.objects.normalize_email(email)
    )
    user.set_password(password)
    try:
        with transaction.atomic():
            _claim_names(username=user.username, email=user.email)
            user.save()
            user.groups.add(Group.objects.get(name=Role.MEMBER))
            lifecycle.user_created(user)
    except IntegrityError as exc:
        field = next((f for key, f in _UNIQUE_FIELDS.items() if key in str(exc)), "username")
        raise DomainValidationError(fields={field: [f"This {field} is already taken."]}) from exc
    return user


def _claim_names(*, exclude_pk: int | None = None, **names: str) -> None:
    """Inside the caller's transaction: refuse names taken or looking like another
    account's, once no concurrent claim of a look-alike is left uncommitted."""
    usernames.lock_names(*names.values())
    errors = {
        field: messages
        for field, name in names.items()
        if (messages := usernames.login_name_errors(name, field=field, exclude_pk=exclude_pk))
    }
    if errors:
        raise DomainValidationError(fields=errors)


def user_skeletons_refresh(*, batch_size: int = 1000) -> int:
    """Recompute every user's name skeletons (after an ICU upgrade changed the
    confusables table); how many rows changed. Batches by primary key, each its own
    short transaction."""
    changed, last_pk = 0, 0
    while True:
        users = list(
            User.objects.filter(pk__gt=last_pk)
            .order_by("pk")
            .only("pk", "username", "email", "username_skeleton", "email_skeleton")[:batch_size]
        )
        if not users:
            return changed
        stale = []
        for user in users:
            columns = usernames.skeleton_columns(username=user.username, email=user.email)
            if any(getattr(user, field) != value for field, value in columns.items()):
                for field, value in columns.items():
                    setattr(user, field, value)
                stale.append(user)
        User.objects.bulk_update(stale, ["username_skeleton", "email_skeleton"])
        changed += len(stale)
        last_pk = users[-1].pk


def session_start(*, user: User, ip: str | None, user_agent: str) -> tokens.IssuedTokens:
    """Log in: a new session and its first refresh and access tokens."""
    session_id = uuid4()
    issued = tokens.issue(user_id=user.pk, session_id=session_id)
    now = timezone.now()
    with transaction.atomic():
        UserSession.objects.create(
            id=session_id,
            user_id=user.pk,
            created_at=now,
            last_used_at=now,
            ip=ip or None,
            user_agent=user_agent[:512],
            refresh_jti=issued.refresh_jti,
            expires_at=issued.refresh_expires_at,
        )
        _record_outstanding(user.pk, issued, now)
        User.objects.filter(pk=user.pk).update(last_login=now)
    return issued


# What a refused refresh token is told (401 `authentication_failed`): why, and what to do.
REFRESH_INVALID = "The refresh token is not valid: log in again (/api/v1/auth/login/)."
REFRESH_EXPIRED = "The refresh token has expired: log in again (/api/v1/auth/login/)."
ACCESS_AS_REFRESH = (
    "This is an access token, not a refresh token: send the refresh token that came with it."
)
REFRESH_SESSION_ENDED = (
    "The session of this refresh token has ended (a logout, a password change or a"
    " deactivation): log in again."
)
REFRESH_REPLAYED = (
    "This refresh token was already used, so its session has been ended to protect the"
    " account: log in again."
)


def _refresh_refused(error: TokenError) -> AuthenticationFailed:
    if isinstance(error, ExpiredTokenError):
        return AuthenticationFailed(REFRESH_EXPIRED)
    if (
        isinstance(error, tokens.WrongTokenTypeError)
        and error.token_type == tokens.AccessToken.token_type
    ):
        return AuthenticationFailed(ACCESS_AS_REFRESH)
    return AuthenticationFailed(REFRESH_INVALID)


def session_refresh(*, raw_refresh: str) -> tokens.IssuedTokens:
    """Rotate a refresh token: blacklist it and issue a new pair for the same session.

    The session row is locked, so of two refreshes racing with one token exactly one
    rotates it; the other then finds it rotated. A rotated token presented again is
    a replay: the whole session ends (committed) and the caller gets 401.
    """
    try:
        payload = tokens.decode_refresh(raw_refresh)
    except TokenError as exc:
        raise _refresh_refused(exc) from exc
    session_id, jti = _as_uuid(payload.get("sid")), str(payload["jti"])
    if session_id is None:
        raise AuthenticationFailed(REFRESH_INVALID)

    issued = None
    with transaction.atomic():
        session = (
            # Lock the session only: the user row is read, not written.
            UserSession.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=session_id, ended_at__isnull=True)
            .first()
        )
        outstanding = OutstandingToken.objects.filter(jti=jti).first()
        if session is None or outstanding is None or not session.user.is_active:
            raise AuthenticationFailed(REFRESH_SESSION_ENDED)
        if session.refresh_jti == jti:
            BlacklistedToken.objects.create(token=outstanding)
            now = timezone.now()
            issued = tokens.issue(user_id=session.user_id, session_id=session.pk)
            _record_outstanding(session.user_id, issued, now)
            session.refresh_jti = issued.refresh_jti
            session.expires_at = issued.refresh_expires_at
            session.last_used_at = now
            session.save(update_fields=["refresh_jti", "expires_at", "last_used_at"])
        else:
            # Committed whatever the cache does: a stolen token's session must end,
            # and the caller is told no success.
            _end_sessions(UserSession.objects.filter(pk=session.pk), EndReason.REPLAY, strict=False)
    if issued is None:  # a replay: the session ending above is committed
        raise AuthenticationFailed(REFRESH_REPLAYED)
    return issued


def session_end(*, user: User, session_id: UUID | str, reason: str = EndReason.REVOKED) -> bool:
    """End one of the user's live sessions; False if there is no such live session."""
    # A session id that is no UUID is None here, which matches no session (IS NULL);
    # django-stubs takes no None for a primary key.
    sessions = UserSession.objects.filter(
        user_id=user.pk,
        pk=_as_uuid(session_id),  # type: ignore[misc]
        ended_at__isnull=True,
    )
    with transaction.atomic():
        return _end_sessions(sessions, reason) > 0


def sessions_end_all(*, user: User, reason: str, keep: UUID | str | None = None) -> int:
    """End every live session of the user, except `keep` (the caller's own) if given."""
    sessions = UserSession.objects.filter(user_id=user.pk, ended_at__isnull=True)
    if keep:
        # `keep` that is no UUID is None, which excludes nothing (see session_end).
        sessions = sessions.exclude(pk=_as_uuid(keep))  # type: ignore[misc]
    with transaction.atomic():
        return _end_sessions(sessions, reason)


def user_update_profile(
    *,
    user: User,
    current_session_id: UUID | str | None,
    email: str | None = None,
    password: str | None = None,
) -> User:
    """Change the user's own email and/or password (checked by the serializer).

    A new password ends every other session of the user (the one making the change
    stays signed in) and every personal API token of theirs.
    """
    with transaction.atomic():
        fresh = User.objects.select_for_update().get(pk=user.pk)
        if email is not None:
            fresh.email = User.objects.normalize_email(email)
            _claim_names(email=fresh.email, exclude_pk=fresh.pk)
        if password is not None:
            fresh.set_password(password)
        try:
            with transaction.atomic():
                fresh.save()
        except IntegrityError as exc:
            raise DomainValidationError(fields={"email": ["This email is already taken."]}) from exc
        if password is not None:
            sessions_end_all(user=fresh, reason=EndReason.PASSWORD_CHANGE, keep=current_session_id)
            personal_tokens_revoke_all(user=fresh)
        auth_cache.user_changed(fresh.pk)
    return fresh


def user_reset_password(*, user: User, password: str | None) -> User:
    """An operator's new password for the user, or none at all (None: no password
    signs them in). Every session and personal API token of the user ends: a reset is
    how an operator locks out whoever holds the account's tokens."""
    with transaction.atomic():
        fresh = User.objects.select_for_update().get(pk=user.pk)
        if password is None:
            fresh.set_unusable_password()
            # `save` stamps a new password only; no password is a change too.
            fresh.password_changed_at = timezone.now()
        else:
            fresh.set_password(password)
        fresh.save(update_fields=["password", "password_changed_at"])
        sessions_end_all(user=fresh, reason=EndReason.PASSWORD_CHANGE)
        personal_tokens_revoke_all(user=fresh)
        auth_cache.user_changed(fresh.pk)
    return fresh


def user_admin_update(
    *, actor: User, user: User, role: str | None = None, is_active: bool | None = None
) -> User:
    """An admin's change of another user's role and/or status, all or nothing. Only
    a superuser changes a superuser."""
    if actor.pk == user.pk and is_active is False:
        raise DomainValidationError(fields={"is_active": ["You cannot deactivate yourself."]})
    if user.is_superuser and not actor.is_superuser:
        raise PermissionDeniedError("Only a superuser may change a superuser.")
    with transaction.atomic():
        if role is not None:
            user = user_set_role(user=user, role=role)
        if is_active is not None:
            user = user_set_active(user=user, is_active=is_active)
    return user


def user_set_role(*, user: User, role: str) -> User:
    """Put the user in exactly one role group. Admins may use the Django admin."""
    if role not in Role.values:
        raise DomainValidationError(fields={"role": [f'"{role}" is not a valid role.']})
    with transaction.atomic():
        fresh = User.objects.select_for_update().get(pk=user.pk)
        if fresh.is_superuser and role != Role.ADMIN:
            raise DomainValidationError(fields={"role": ["A superuser is always an admin."]})
        groups = {group.name: group for group in Group.objects.filter(name__in=Role.values)}
        fresh.groups.remove(*groups.values())
        fresh.groups.add(groups[role])
        fresh.is_staff = role == Role.ADMIN or fresh.is_superuser
        fresh.save(update_fields=["is_staff"])
        auth_cache.user_changed(fresh.pk)
    return fresh


def user_set_active(*, user: User, is_active: bool) -> User:
    """Activate or deactivate; deactivating ends every session and personal API token
    of the user at once (reactivating brings none back)."""
    with transaction.atomic():
        fresh = User.objects.select_for_update().get(pk=user.pk)
        fresh.is_active = is_active
        fresh.save(update_fields=["is_active"])
        if not is_active:
            sessions_end_all(user=fresh, reason=EndReason.DEACTIVATED)
            personal_tokens_revoke_all(user=fresh)
        auth_cache.user_changed(fresh.pk)
    return fresh


@dataclass(frozen=True)
class CreatedToken:
    """A personal token just created: `raw` is the token, never stored nor shown again."""

    token: PersonalToken
    raw: str


def personal_token_create(
    *, user: User, name: str, scopes: list[str], expires_at: datetime | None
) -> CreatedToken:
    """A new personal API token of the user (name, scopes and expiry checked by the
    serializer). ConflictError once the user holds MAX_PER_USER tokens; the user's
    row is locked so that concurrent creations cannot pass the limit together."""
    new = personal_tokens.generate()
    wanted = set(scopes)
    with transaction.atomic():
        owner = User.objects.select_for_update().only("password_changed_at").get(pk=user.pk)
        held = PersonalToken.objects.filter(user_id=user.pk).count()
        if held >= personal_tokens.MAX_PER_USER:
            raise ConflictError(
                f"You hold {held} personal API tokens, the most an account may: delete one"
                " you no longer use (expired ones count too) before creating another."
            )
        # Never before the password's last change, were this server's clock behind the
        # one that stamped it: the token would be refused at once.
        now = timezone.now()
        if owner.password_changed_at is not None and owner.password_changed_at > now:
            now = owner.password_changed_at
        token = PersonalToken.objects.create(
            user_id=user.pk,
            name=name,
            scopes=[scope for scope in ALL_SCOPES if scope in wanted],
            prefix=new.prefix,
            key_hash=new.key_hash,
            created_at=now,
            expires_at=expires_at,
        )
    return CreatedToken(token=token, raw=new.raw)


def personal_token_delete(*, token: PersonalToken) -> None:
    """Revoke a token: refused by every process from the next request on, and an open
    socket authenticated with it closes at its next check."""
    with transaction.atomic():
        _delete_personal_tokens(PersonalToken.objects.filter(pk=token.pk))


def personal_tokens_delete(*, tokens: QuerySet[PersonalToken]) -> int:
    """Revoke several tokens at once (the admin's bulk delete); how many."""
    with transaction.atomic():
        return _delete_personal_tokens(tokens)


def personal_tokens_revoke_all(*, user: User) -> int:
    """Inside the caller's transaction (a password change, a deactivation): revoke
    every personal token of the user; how many."""
    return _delete_personal_tokens(PersonalToken.objects.filter(user_id=user.pk))


def _delete_personal_tokens(tokens: QuerySet[PersonalToken]) -> int:
    """Delete the tokens inside the caller's transaction and tell every process
    through the cache, or raise SessionStoreUnavailable (it rolls back: a 503)."""
    rows = list(tokens.order_by("pk").select_for_update().values_list("pk", "key_hash"))
    if not rows:
        return 0
    PersonalToken.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    auth_cache.personal_tokens_revoked([key_hash for _, key_hash in rows])
    return len(rows)


def _end_sessions(sessions: QuerySet[UserSession], reason: str, *, strict: bool = True) -> int:
    """End sessions inside the caller's transaction: mark them, blacklist their
    current refresh tokens, and tell every process through the cache; `strict`: or
    raise SessionStoreUnavailable, which rolls the caller's transaction back (503)."""
    rows = list(sessions.select_for_update().values_list("id", "user_id", "refresh_jti"))
    if not rows:
        return 0
    ids = [row[0] for row in rows]
    UserSession.objects.filter(pk__in=ids).update(ended_at=timezone.now(), end_reason=reason)
    BlacklistedToken.objects.bulk_create(
        [
            BlacklistedToken(token=token)
            for token in OutstandingToken.objects.filter(jti__in=[row[2] for row in rows])
        ],
        ignore_conflicts=True,
    )
    by_user: dict[int, list[UUID]] = {}
    for session_id, user_id, _ in rows:
        by_user.setdefault(user_id, []).append(session_id)
    for user_id, session_ids in by_user.items():
        auth_cache.sessions_ended(session_ids, user_id, strict=strict)
    return len(ids)


def _record_outstanding(user_id: int, issued: tokens.IssuedTokens, now: datetime) -> None:
    OutstandingToken.objects.create(
        user_id=user_id,
        jti=issued.refresh_jti,
        token=issued.refresh,
        created_at=now,
        expires_at=issued.refresh_expires_at,
    )


def _as_uuid(value: object) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class CleanupCounts:
    outstanding_tokens: int
    blacklisted_tokens: int
    sessions: int


def tokens_cleanup(*, dry_run: bool = False, batch_size: int = 5000) -> CleanupCounts:
    """Delete expired refresh tokens (outstanding and blacklisted) and sessions ended
    or expired longer ago than the refresh lifetime.

    Deletes go in batches of primary keys picked through indexes, each batch its own
    short transaction, so a table of millions never holds a long lock.
    """
    now = timezone.now()
    cutoff = now - cast(timedelta, settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"])
    blacklisted = BlacklistedToken.objects.filter(token__expires_at__lt=now)
    outstanding = OutstandingToken.objects.filter(expires_at__lt=now)
    sessions = UserSession.objects.filter(Q(ended_at__lt=cutoff) | Q(expires_at__lt=cutoff))
    if dry_run:
        return CleanupCounts(outstanding.count(), blacklisted.count(), sessions.count())
    # Blacklist rows first: they reference the outstanding tokens.
    removed_blacklisted = delete_in_batches(blacklisted, batch_size)
    return CleanupCounts(
        outstanding_tokens=delete_in_batches(outstanding, batch_size, _delete_outstanding),
        blacklisted_tokens=removed_blacklisted,
        sessions=delete_in_batches(sessions, batch_size),
    )


def tokens_cleanup_counted(*, dry_run: bool, batch_size: int) -> list[tuple[int, str]]:
    """`tokens_cleanup` for `manage.py cleanup_tokens` (taskmanager.cleanups)."""
    counts = tokens_cleanup(dry_run=dry_run, batch_size=batch_size)
    return [
        (counts.outstanding_tokens, "expired outstanding tokens"),
        (counts.blacklisted_tokens, "blacklisted tokens"),
        (counts.sessions, "sessions"),
    ]


def _delete_outstanding(tokens: QuerySet[OutstandingToken]) -> int:
    # A blacklist row may have been added since the blacklist pass (a session ending
    # blacklists its refresh token): remove those first, then the tokens without
    # Django's collector, which would load every row only to find no cascade left.
    BlacklistedToken.objects.filter(token__in=tokens.values("pk")).delete()
    tokens = tokens.order_by()
    return int(tokens._raw_delete(tokens.db))
