"""The kinds of events and who may read them. A domain app registers each of its kinds
once (in its AppConfig.ready); the outbox, the feed and socket delivery apply the
rule without knowing the domain.

The rule of every kind: the users an event names (`Event.owner`, `assignee`,
`previous_assignee`, chosen by the service that records it) read it, and so do the
holders of the kind's "read all" permission.
"""

from dataclasses import dataclass

from accounts.models import User
from activity.models import Event


@dataclass(frozen=True)
class EventKind:
    # The types' prefix ("task" for "task.updated"), and the field of a socket message
    # that holds the object's state.
    name: str
    actions: frozenset[str]
    # Its holders read every event of this kind.
    read_all_permission: str

    @property
    def types(self) -> frozenset[str]:
        return frozenset(f"{self.name}.{action}" for action in self.actions)


_kinds: dict[str, EventKind] = {}


def register(kind: EventKind) -> None:
    """Declare a kind; registering the same one again changes nothing."""
    known = _kinds.setdefault(kind.name, kind)
    if known != kind:
        raise ValueError(f"event kind {kind.name!r} is already registered otherwise")


def registered() -> list[EventKind]:
    return list(_kinds.values())


def kind_of(event_type: str) -> EventKind | None:
    """The registered kind of a type such as `task.updated`, or None."""
    name, _, action = event_type.partition(".")
    kind = _kinds.get(name)
    return kind if kind is not None and action in kind.actions else None


def user_key(user_id: int) -> str:
    return f"user.{user_id}"


def permission_key(permission: str) -> str:
    return f"permission.{permission}"


def audience(event: Event) -> list[str]:
    """The audience keys of an event: the users it names and the kind's permission."""
    kind = kind_of(event.type)
    named = (event.owner_id, event.assignee_id, event.previous_assignee_id)
    keys = [user_key(user_id) for user_id in sorted({u for u in named if u is not None})]
    if kind is not None:
        keys.append(permission_key(kind.read_all_permission))
    return keys


def keys_of(user: User) -> set[str]:
    """The audience keys a user belongs to: an event reaches them when one of its
    keys (`audience`) is one of these."""
    keys = {user_key(user.pk)}
    permissions = {kind.read_all_permission for kind in _kinds.values()}
    keys.update(permission_key(p) for p in permissions if user.has_perm(p))
    return keys
