"""The personal API token itself: how one is made, recognised and stored.

A token is `tm_pat_` and 43 URL-safe characters (`secrets.token_urlsafe(32)`: 256
random bits). The prefix lets a request go to the right authenticator without a
guess, and lets secret scanners and people recognise a leaked one. Only its SHA-256
is stored (`PersonalToken.key_hash`): with that much entropy no salt or slow hash
adds anything, and a request finds the row by one unique index.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

PREFIX = "tm_pat_"
PREFIX_BYTES = PREFIX.encode()
# Random bytes of a token, and the characters they make in base64url without padding.
RANDOM_BYTES = 32
RANDOM_CHARS = 43
# The characters after PREFIX kept as `PersonalToken.prefix` to recognise a token.
SHOWN_CHARS = 6
# Exactly what `generate` makes: anything else is refused before any lookup.
_WELL_FORMED = re.compile(rf"{PREFIX}[A-Za-z0-9_-]{{{RANDOM_CHARS}}}")

# An account holds at most this many tokens (expired ones count until deleted): a
# list stays one page of work, and a leaked session cannot mint without bound.
MAX_PER_USER = 50
# The latest expiry a new token may have: a year ahead. 366 days, so that "a year
# from now" computed by a client is accepted in a leap year too.
MAX_LIFETIME = timedelta(days=366)
NAME_MAX_LENGTH = 100


@dataclass(frozen=True)
class NewToken:
    """A token just made: `raw` is shown once and then only its hash exists."""

    raw: str
    prefix: str
    key_hash: str


def generate() -> NewToken:
    raw = PREFIX + secrets.token_urlsafe(RANDOM_BYTES)
    return NewToken(raw=raw, prefix=raw[: len(PREFIX) + SHOWN_CHARS], key_hash=hash_of(raw))


def is_well_formed(raw: str) -> bool:
    return _WELL_FORMED.fullmatch(raw) is not None


def hash_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class PersonalTokenAuth:
    """`request.auth` of a request made with a personal token (and the identity of a
    socket opened with one): what the scope checks and the views need of it, not the
    token itself."""

    id: int
    user_id: int
    key_hash: str
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
