"""The kinds of events and who may read them. A domain app registers each of its kinds
once (in its AppConfig.ready); the outbox, the feed and socket delivery apply the
rule without knowing the domain.

The rule of every kind: the members of the event's project (and of the project a task
just left) read it, as do the users it names (`Event.owner`, `assignee`,
`previous_assignee`, chosen by the service that records it) and the holders of the
kind's "read all" permission, if it has one (a notification has none: only the user
it names reads it, whatever their permissions). Who is a member is the projects app's
to say: it registers a `Memberships` here.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db.models import QuerySet

from accounts.models import User
from activity.models import Event


@dataclass(frozen=True)
class EventKind:
    # The types' prefix ("task" for "task.updated"), and the field of a socket message
    # that holds the object's state.
    name: str
    actions: frozenset[str]
    # Its holders read every event of this kind; None: nobody reads them all (not even
    # a superuser, whom `has_perm` grants everything).
    read_all_permission: str | None = None
    # The actions after which users' audience keys may differ (a member added or
    # removed): socket processes re-read them at once rather than at the next check.
    audience_actions: frozenset[str] = frozenset()

    @property
    def types(self) -> frozenset[str]:
        return frozenset(f"{self.name}.{action}" for action in self.actions)


class Memberships(Protocol):
    def project_ids(self, user: User) -> QuerySet[Any]:
        """The ids of the projects the user belongs to now, as a subquery."""
        ...

    def project_ids_of_many(self, user_ids: Iterable[int]) -> dict[int, set[int]]:
        """The same for many users in one query; users of none are left out."""
        ...


_kinds: dict[str, EventKind] = {}
_memberships: list[Memberships] = []


def register(kind: EventKind) -> None:
    """Declare a kind; registering the same one again changes nothing."""
    known = _kinds.setdefault(kind.name, kind)
    if known != kind:
        raise ValueError(f"event kind {kind.name!r} is already registered otherwise")


def register_memberships(memberships: Memberships) -> None:
    """Say who belongs to which project (one provider: the last registered)."""
    _memberships[:] = [memberships]


def memberships() -> Memberships | None:
    return _memberships[0] if _memberships else None


def registered() -> list[EventKind]:
    return list(_kinds.values())


def kind_of(event_type: str) -> EventKind | None:
    """The registered kind of a type such as `task.updated`, or None."""
    name, _, action = event_type.partition(".")
    kind = _kinds.get(name)
    return kind if kind is not None and action in kind.actions else None


def changes_audience(event_type: str) -> bool:
    """Whether users' audience keys may differ after an event of this type."""
    kind = kind_of(event_type)
    return kind is not None and event_type.partition(".")[2] in kind.audience_actions


def user_key(user_id: int) -> str:
    return f"user.{user_id}"


def project_key(project_id: int) -> str:
    return f"project.{project_id}"


def permission_key(permission: str) -> str:
    return f"permission.{permission}"


def audience(event: Event) -> list[str]:
    """The audience keys of an event: its projects, the users it names and the
    kind's permission (if any)."""
    kind = kind_of(event.type)
    named = (event.owner_id, event.assignee_id, event.previous_assignee_id)
    keys = [user_key(user_id) for user_id in sorted({u for u in named if u is not None})]
    projects = {event.project_id, event.previous_project_id}
    keys.extend(project_key(p) for p in sorted(p for p in projects if p is not None))
    if kind is not None and kind.read_all_permission is not None:
        keys.append(permission_key(kind.read_all_permission))
    return keys


def keys_of(user: User) -> set[str]:
    """The audience keys a user belongs to: an event reaches them when one of its
    keys (`audience`) is one of these. Reads the user's memberships."""
    return keys_of_many([user])[user.pk]


def keys_of_many(users: Iterable[User]) -> dict[int, set[str]]:
    """`keys_of` for many users, their memberships read in one query."""
    users = list(users)
    provider = memberships()
    projects = provider.project_ids_of_many([u.pk for u in users]) if provider else {}
    permissions = {
        kind.read_all_permission for kind in _kinds.values() if kind.read_all_permission is not None
    }
    found: dict[int, set[str]] = {}
    for user in users:
        keys = {user_key(user.pk)}
        keys.update(permission_key(p) for p in permissions if user.has_perm(p))
        keys.update(project_key(p) for p in projects.get(user.pk, ()))
        found[user.pk] = keys
    return found
