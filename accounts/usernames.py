"""Login names (usernames and emails): one normalization, and no look-alikes.

Unicode lets different strings look the same: `root` in fullwidth letters, or
with Cyrillic o's, next to `root`. Every door that takes a login name applies NFKC,
as Django's `AbstractBaseUser.normalize_username` does, so the fullwidth one *is*
`root`. A new name is refused when it mixes scripts, or when its Unicode TR39
skeleton (ICU's SpoofChecker, through pyicu-wheels) is the skeleton of an existing
username or email, compared case-insensitively. docs/decisions/usernames.md says why.
"""

import hashlib
import unicodedata
from functools import cache

import icu
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import CharField, Q, Value
from django.db.models.functions import Lower

# The first key of the PostgreSQL advisory locks taken on skeletons ("name").
_LOCK_NAMESPACE = 0x6E616D65


def normalize_username(name: str) -> str:
    """NFKC, as `AbstractBaseUser.normalize_username`: compatibility forms
    (fullwidth letters, ligatures) become the letters they stand for."""
    return unicodedata.normalize("NFKC", name)


def normalize_email(email: str) -> str:
    """NFKC (a fullwidth at sign or letter is its ASCII one), then the domain lower-cased
    as `BaseUserManager.normalize_email` does."""
    local, at, domain = unicodedata.normalize("NFKC", email).strip().rpartition("@")
    return f"{local}@{domain.lower()}" if at else domain


@cache
def _checker() -> icu.SpoofChecker:
    # Configured once, then only read: ICU's checks are thread-safe on a const checker.
    checker = icu.SpoofChecker()
    checker.setChecks(
        icu.USpoofChecks.RESTRICTION_LEVEL
        | icu.USpoofChecks.MIXED_NUMBERS
        | icu.USpoofChecks.INVISIBLE
    )
    # TR39's level for identifiers: one script, or Latin with the Chinese, Japanese
    # or Korean scripts. Latin with Cyrillic or Greek is refused.
    checker.setRestrictionLevel(icu.URestrictionLevel.HIGHLY_RESTRICTIVE)
    return checker


def skeleton(name: str) -> str:
    """The TR39 skeleton of the name, case-insensitively (of its NFKC case fold, as
    TR39 prescribes for names compared without case): `root` with Cyrillic o's,
    `ROOT` and `root` share one."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return str(_checker().getSkeleton(0, folded))


def skeleton_key(name: str) -> str:
    """What the `*_skeleton` columns hold: a digest of the skeleton, fixed in size
    (a skeleton can be many times longer than its name, past what an index takes)."""
    return hashlib.sha256(skeleton(name).encode()).hexdigest() if name else ""


def mixes_scripts(name: str) -> bool:
    """Whether the name mixes scripts (Latin and Cyrillic letters, digits of two
    numbering systems...). Digits and punctuation are of every script."""
    return bool(_checker().check(normalize_username(name)))


def _mixed_script_errors(name: str, field: str) -> list[str]:
    if field == "email":
        # Each part on its own: a Latin local part at a Cyrillic domain is one
        # script per part; a local part or domain label mixing them is not.
        local, _, domain = name.rpartition("@")
        parts = [local, *domain.split(".")]
    else:
        parts = [name]
    if any(mixes_scripts(part) for part in parts if part):
        return [
            f"This {field} mixes letters of different scripts (such as Latin and "
            "Cyrillic), which lets it pass for another name; use one script."
        ]
    return []


def lowered(name: str) -> Lower:
    """`name` lower-cased by the database, as the case-insensitive unique indexes
    lower their column (`username__lower=lowered(name)`). Python's `str.lower` is
    not the same function: PostgreSQL keeps a final sigma, SQLite folds ASCII only,
    and a name lowered on one side only would miss its account."""
    return Lower(Value(name, output_field=CharField()))


def _name_taken(name: str) -> Q:
    """Accounts a login by `name` could reach: a login's `username` that matches no
    username is tried as an email (accounts.backends), so usernames and emails are
    one namespace. Otherwise a newcomer could take someone's email as their
    username, and that person's login by email through `username` would reach the
    newcomer's account instead."""
    return Q(username__lower=lowered(name)) | Q(email__lower=lowered(name))


def login_name_errors(name: str, *, field: str, exclude_pk: int | None = None) -> list[str]:
    """Why `name` (normalized) cannot be the `field` ("username" or "email") of the
    account `exclude_pk` (None: a new account), or [] when it can. Two indexed
    queries: the name itself, then its skeleton, both among usernames and emails."""
    if not name:
        return []
    errors = _mixed_script_errors(name, field)
    if errors:
        return errors
    users = get_user_model()._default_manager.all()
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    if users.filter(_name_taken(name)).exists():
        return [f"This {field} is already taken."]
    key = skeleton_key(name)
    if users.filter(Q(username_skeleton=key) | Q(email_skeleton=key)).exists():
        return [
            f"This {field} looks like the username or email of another account "
            "(its letters can be mistaken for theirs); choose another."
        ]
    return []


def validate_login_name(name: str, *, field: str, exclude_pk: int | None = None) -> None:
    """`login_name_errors` as Django's ValidationError (forms, model validation)."""
    errors = login_name_errors(name, field=field, exclude_pk=exclude_pk)
    if errors:
        raise ValidationError(errors, code="login_name")


def lock_names(*names: str) -> None:
    """Inside the caller's transaction, wait for any other transaction claiming a
    name with the same skeleton: of two concurrent registrations of look-alike
    names, the second then sees the first. A lock per skeleton, in one order (no
    deadlock). PostgreSQL only; SQLite runs one write transaction at a time."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({int(skeleton_key(name)[:8], 16) - 2**31 for name in names if name})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, key])


def skeleton_columns(*, username: str, email: str) -> dict[str, str]:
    """The values of a user's `*_skeleton` columns."""
    return {"username_skeleton": skeleton_key(username), "email_skeleton": skeleton_key(email)}
