"""Session and user state for authentication, kept in the cache.

A request with a Bearer token costs one cache round trip (`get_many` of its session
and user entries; on Redis the round trip of taskmanager.readahead, which carries the
view's first reads too) and no query when both are cached. On a miss the database, the
source of truth, is read and the entry added with `cache.add`, which never
overwrites.

A change (a session ending, a user's role, status or deletion) is published twice.
Inside the writing transaction the entry is overwritten with an "unsettled" marker,
and that write must succeed: if the cache refuses it (Redis down, or refusing writes
while it fails over) `SessionStoreUnavailable` rolls the change back and the request
answers 503, for an old "live" entry left in the cache would be served to every
process for up to a minute after the change reported success. A reader that meets
the marker asks the database and caches nothing, so a reader that loaded the row
just before the commit cannot put the old state back (its `add` meets the marker);
harmless if the transaction rolls back. Once it commits, the new state is written
with `cache.set` (best effort: while the marker stays, readers ask the database).
Entries live a short while so an operator's change to a group's permissions reaches
every process quickly.

Personal API tokens have entries of their own, by the hash of the token (`auth:pat:`),
kept the same way: a request with one costs the token's entry, then the user's with
the read-ahead, and no query when both are cached. A deleted token's entry says so
for a minute; an unknown token is not cached (each costs one indexed query), so
made-up tokens cannot fill the cache.

The cache is shared, so an entry is checked before it is trusted (a few isinstance
checks): one that is not what this module writes is a miss. It is deleted before
the database is read and the fresh state added, so a change published meanwhile
still wins, as on any miss.
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache, caches
from django.db import DatabaseError
from django.db.models import Q
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

from accounts.models import PersonalToken, User, UserSession
from taskmanager.exceptions import ServiceUnavailableError
from taskmanager.transactions import after_commit

logger = logging.getLogger(__name__)

SNAPSHOT_TTL = 60
# last_used_at is informational; writing it on every request would cost a query.
TOUCH_AFTER = timedelta(seconds=60)

# What a writer puts under a key whose state is changing: "ask the database".
UNSETTLED: dict[str, Any] = {"unsettled": True}


class SessionStoreUnavailable(ServiceUnavailableError):
    """The cache could not be told of a change to a session or user: the change is
    rolled back rather than reported done while processes may still trust the old
    state."""

    message = "The session store is unavailable; try again later."


_USER_FIELDS = (
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
    "last_login",
    "password_changed_at",
)


def session_key(session_id: UUID | str) -> str:
    return f"auth:session:{session_id}"


def user_key(user_id: int | str) -> str:
    return f"auth:user:{user_id}"


def personal_token_key(key_hash: str) -> str:
    return f"auth:pat:{key_hash}"


def entry_keys(user_id: int, session_id: str) -> list[str]:
    """What `authenticated_user` reads: the session's and the user's entries."""
    return [session_key(session_id), user_key(user_id)]


def authenticated_user(
    user_id: int, session_id: str, read: dict[str, Any] | None = None
) -> User | None:
    """The user of a live session, or None when the session or the user is done.
    Given `read`, its `entry_keys` as read already (taskmanager.readahead), no
    cache round trip of its own."""
    return authenticated_users([(user_id, session_id)], read)[0]


def authenticated_users(
    pairs: list[tuple[int, str]], read: dict[str, Any] | None = None
) -> list[User | None]:
    """`authenticated_user` for each (user id, session id), in one cache round trip
    (the open WebSockets of a process are checked together), or none when `read`
    already holds their entries. A user with several sessions is one User object."""
    if read is None:
        keys = {key for user_id, sid in pairs for key in entry_keys(user_id, sid)}
        read = cache.get_many(list(keys))
    found = dict(read)
    users: dict[int, User | None] = {}
    result: list[User | None] = []
    for user_id, session_id in pairs:
        key = session_key(session_id)
        if _is_unsettled(found.get(key)):
            # Being ended: the database decides, and nothing is cached meanwhile.
            found[key] = _load_session(session_id)
        elif not _is_session_state(found.get(key)):
            if key in found:
                cache.delete(key)
            found[key] = _load_session(session_id)
            cache.add(key, found[key], SNAPSHOT_TTL)
        if not _session_is_live(found[key], user_id):
            result.append(None)
            continue
        if user_id not in users:
            users[user_id] = _active_user(user_id, found.get(user_key(user_id)))
        result.append(users[user_id])
    return result


def session_cookie_user(user_id: int, session_hash: str) -> User | None:
    """The user of a Django login session, while active and their password (and so
    the session's auth hash) unchanged; for WebSocket connections, without a query."""
    user = _active_user(user_id, cache.get(user_key(user_id)))
    if user is None or not constant_time_compare(user._session_hash, session_hash):  # type: ignore[attr-defined]
        return None
    return user


def active_user(user_id: int, read: dict[str, Any] | None = None) -> User | None:
    """The user while active, from their entry (in `read` if read already)."""
    key = user_key(user_id)
    return _active_user(user_id, read[key] if read is not None and key in read else cache.get(key))


def _active_user(user_id: int, snapshot: Any) -> User | None:
    if _is_unsettled(snapshot):
        snapshot = load_user_snapshot(user_id)
    elif not _is_user_snapshot(snapshot, user_id):
        if snapshot is not None:
            cache.delete(user_key(user_id))
        snapshot = load_user_snapshot(user_id)
        cache.add(user_key(user_id), snapshot, SNAPSHOT_TTL)
    if not snapshot or not snapshot["is_active"]:
        return None
    return _user_from_snapshot(snapshot)


def _is_unsettled(value: Any) -> bool:
    return value == UNSETTLED


def _is_session_state(value: Any) -> bool:
    """What `_session_state` (or `_load_session` for a missing row) writes."""
    if not isinstance(value, dict) or not isinstance(value.get("ended"), bool):
        return False
    return value["ended"] or (
        isinstance(value.get("user_id"), int) and isinstance(value.get("expires_at"), datetime)
    )


# What `_user_from_snapshot` reads; `load_user_snapshot` writes them all, or nothing
# for a user that does not exist.
_SNAPSHOT_KEYS = frozenset((*_USER_FIELDS, "role", "perms"))


def _is_user_snapshot(value: Any, user_id: int) -> bool:
    if not isinstance(value, dict):
        return False
    return not value or (
        value.keys() >= _SNAPSHOT_KEYS
        and value["id"] == user_id
        and isinstance(value["is_active"], bool)
        and isinstance(value["perms"], list)
    )


def _session_is_live(session: dict[str, Any], user_id: int) -> bool:
    return (
        not session.get("ended", True)
        and session["user_id"] == user_id
        and session["expires_at"] > timezone.now()
    )


def _load_session(session_id: str) -> dict[str, Any]:
    row = (
        UserSession.objects.filter(pk=session_id)
        .values("user_id", "ended_at", "expires_at", "last_used_at")
        .first()
    )
    if row is None:
        return {"ended": True}
    now = timezone.now()
    if row["ended_at"] is None and now - row["last_used_at"] > TOUCH_AFTER:
        UserSession.objects.filter(pk=session_id, ended_at__isnull=True).update(last_used_at=now)
    return _session_state(row["user_id"], row["ended_at"], row["expires_at"])


def _session_state(user_id: int, ended_at: datetime | None, expires_at: datetime) -> dict[str, Any]:
    return {"user_id": user_id, "ended": ended_at is not None, "expires_at": expires_at}


def load_user_snapshot(user_id: int) -> dict[str, Any]:
    """What authentication needs of a user, without the password hash."""
    user = User.objects.filter(pk=user_id).prefetch_related("groups").first()
    if user is None:
        return {}
    snapshot: dict[str, Any] = {field: getattr(user, field) for field in _USER_FIELDS}
    snapshot["role"] = user.role
    snapshot["perms"] = sorted(ModelBackend().get_all_permissions(user))
    # An HMAC of the password hash, as Django keeps in login sessions; it lets a
    # socket opened with the session cookie notice a password change.
    snapshot["session_hash"] = user.get_session_auth_hash()
    return snapshot


def _user_from_snapshot(snapshot: dict[str, Any]) -> User:
    user = User(**{field: snapshot[field] for field in _USER_FIELDS})
    user._state.adding = False
    user._is_snapshot = True  # type: ignore[attr-defined]
    user._role = snapshot["role"]  # type: ignore[attr-defined]
    # ModelBackend.has_perm reads this; the snapshot spares it two queries a request.
    user._perm_cache = set(snapshot["perms"])  # type: ignore[attr-defined]
    user._session_hash = snapshot.get("session_hash", "")  # type: ignore[attr-defined]
    return user


def sessions_ended(session_ids: list[UUID], user_id: int, *, strict: bool = True) -> None:
    """Inside the transaction that ends the sessions: every process refuses them from
    the next request on, or `SessionStoreUnavailable` (the transaction rolls back).
    Not `strict`: the ending commits whatever the cache does; a process may then
    accept the sessions' access tokens until their entries expire (SNAPSHOT_TTL)."""
    try:
        publish_unsettled([session_key(sid) for sid in session_ids])
    except SessionStoreUnavailable:
        if strict:
            raise
        logger.warning("sessions ended without the cache: refused within %d s", SNAPSHOT_TTL)

    def publish() -> None:
        ended = {"user_id": user_id, "ended": True, "expires_at": timezone.now()}
        cache.set_many({session_key(sid): ended for sid in session_ids}, SNAPSHOT_TTL)

    after_commit(publish)


def user_changed(user_id: int) -> None:
    """Inside the transaction that changes a user's role, status or email, or deletes
    them; `SessionStoreUnavailable` if the cache cannot be told (it rolls back)."""
    publish_unsettled([user_key(user_id)])
    after_commit(lambda: cache.set(user_key(user_id), load_user_snapshot(user_id), SNAPSHOT_TTL))


def user_vanished(user_id: int) -> bool:
    """Whether the user's row is gone (deleted where no code saw it, by raw SQL); if
    so every process refuses their tokens from now on (as far as the cache can be
    written; otherwise once their entries expire)."""
    try:
        if User.objects.filter(pk=user_id).exists():
            return False
    except (DatabaseError, TransactionManagementError):
        return False  # no answer: not proof that the user is gone
    cache.set(user_key(user_id), {}, SNAPSHOT_TTL)
    return True


def publish_unsettled(keys: list[str]) -> None:
    """Put the unsettled marker under `keys`, or raise SessionStoreUnavailable.

    Not through the cache API: django-redis swallows Redis errors (IGNORE_EXCEPTIONS)
    and `set_many` reports nothing, so the write is sent and its replies checked here.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        try:
            pipe = backend.client.get_client(write=True).pipeline(transaction=False)
            value = backend.client.encode(UNSETTLED)
            for key in keys:
                pipe.set(backend.make_key(key), value, ex=SNAPSHOT_TTL)
            written = all(pipe.execute())
        except RedisError as exc:
            logger.warning("cache refused a session change: %s: %s", type(exc).__name__, exc)
            raise SessionStoreUnavailable() from exc
    else:
        # Other backends report the keys they failed to write (local memory: none).
        written = not backend.set_many(dict.fromkeys(keys, UNSETTLED), SNAPSHOT_TTL)
    if not written:
        raise SessionStoreUnavailable()


# --- personal API tokens ---------------------------------------------------------------

# Under a deleted token's key for SNAPSHOT_TTL after the deletion: refused without a
# query, and a reader that loaded the row before the deletion cannot `add` it back.
TOKEN_GONE: dict[str, Any] = {"gone": True}
_TOKEN_FIELDS = ("id", "key_hash", "user_id", "scopes", "created_at", "expires_at", "last_used_at")


def personal_token_state(key_hash: str) -> dict[str, Any] | None:
    """The stored state of the token with this hash (`_TOKEN_FIELDS`), or None when
    there is no such token (unknown or deleted). Its expiry and user are the
    caller's to check."""
    return personal_token_states([key_hash])[0]


def personal_token_states(key_hashes: list[str]) -> list[dict[str, Any] | None]:
    """`personal_token_state` of each hash, in one cache round trip (the open sockets
    of a process are checked together)."""
    keys = [personal_token_key(key_hash) for key_hash in key_hashes]
    found = cache.get_many(keys) if keys else {}
    return [_token_state(h, key, found.get(key)) for h, key in zip(key_hashes, keys, strict=True)]


def _token_state(key_hash: str, key: str, value: Any) -> dict[str, Any] | None:
    if _is_unsettled(value):
        # Being deleted: the database decides, and nothing is cached meanwhile.
        return _load_personal_token(key_hash)
    if value == TOKEN_GONE:
        return None
    if _is_token_state(value, key_hash):
        return dict(value)
    if value is not None:
        cache.delete(key)
    state = _load_personal_token(key_hash)
    if state is not None:
        cache.add(key, state, SNAPSHOT_TTL)
    return state


def _is_token_state(value: Any, key_hash: str) -> bool:
    """What `_load_personal_token` writes, for this very token (an entry copied from
    another key is not trusted)."""
    if not isinstance(value, dict) or value.keys() != set(_TOKEN_FIELDS):
        return False
    return (
        value["key_hash"] == key_hash
        and isinstance(value["id"], int)
        and isinstance(value["user_id"], int)
        and isinstance(value["scopes"], list)
        and all(isinstance(scope, str) for scope in value["scopes"])
        and isinstance(value["created_at"], datetime)
        and (value["expires_at"] is None or isinstance(value["expires_at"], datetime))
        and (value["last_used_at"] is None or isinstance(value["last_used_at"], datetime))
    )


def _load_personal_token(key_hash: str) -> dict[str, Any] | None:
    row = PersonalToken.objects.filter(key_hash=key_hash).values(*_TOKEN_FIELDS).first()
    return dict(row) if row is not None else None


def personal_token_outlived(state: dict[str, Any], user: User) -> bool:
    """Whether the user's password changed after the token was made (by any door:
    the services delete the tokens too, `manage.py changepassword` does not)."""
    changed: datetime | None = user.password_changed_at
    return changed is not None and state["created_at"] < changed


# Per process, when each token's `last_used_at` was last written or seen written (Unix
# time), by its hash: a token's row is written at most once a TOUCH_AFTER per process,
# and the conditional UPDATE makes it at most once a TOUCH_AFTER across processes.
# Bounded by starting again when full; dict operations are atomic across threads.
TOUCHED_MAX = 10_000
_touched: dict[str, float] = {}


def personal_token_used(state: dict[str, Any]) -> None:
    """Note that the token was used now: its `last_used_at` is written only when it
    is more than TOUCH_AFTER old, so a busy token costs no write per request."""
    key_hash = state["key_hash"]
    now = time.time()
    last = _touched.get(key_hash)
    if last is None and state["last_used_at"] is not None:
        last = state["last_used_at"].timestamp()
    window = TOUCH_AFTER.total_seconds()
    if last is not None and now - last < window:
        if key_hash not in _touched:
            _remember_touch(key_hash, last)
        return
    _remember_touch(key_hash, now)
    at = timezone.now()
    PersonalToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=at - TOUCH_AFTER), pk=state["id"]
    ).update(last_used_at=at)


def _remember_touch(key_hash: str, at: float) -> None:
    if len(_touched) >= TOUCHED_MAX:
        _touched.clear()
    _touched[key_hash] = at


def personal_tokens_revoked(key_hashes: list[str]) -> None:
    """Inside the transaction that deletes the tokens: every process refuses them from
    the next request on, or SessionStoreUnavailable (the transaction rolls back, a
    503): a deletion reported done must not leave a "live" entry for a minute."""
    if not key_hashes:
        return
    keys = [personal_token_key(key_hash) for key_hash in key_hashes]
    publish_unsettled(keys)

    def publish() -> None:
        cache.set_many(dict.fromkeys(keys, TOKEN_GONE), SNAPSHOT_TTL)

    after_commit(publish)
