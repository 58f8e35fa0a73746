"""What other apps do when an account is created (projects: the personal project),
registered in their AppConfig.ready so that accounts imports none of them."""

from typing import Protocol

from accounts.models import User


class UserCreated(Protocol):
    def __call__(self, *, user: User) -> object: ...


_created: list[UserCreated] = []


def on_user_created(hook: UserCreated) -> None:
    """Run `hook(user=...)` in the transaction creating every account; registering
    the same one again changes nothing."""
    if hook not in _created:
        _created.append(hook)


def user_created(user: User) -> None:
    for hook in _created:
        hook(user=user)
