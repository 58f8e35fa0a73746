"""Users deleted outside the services (`manage.py shell`, a queryset's `delete()`):
their tokens are refused from the next request on, as for a deactivation."""

from typing import Any

from django.db.models.signals import pre_delete

from accounts import auth_cache
from accounts.models import User


def user_deleting(sender: type[User], instance: User, **kwargs: Any) -> None:
    """Inside the deletion's transaction: a cache that cannot be told raises
    SessionStoreUnavailable, and the deletion rolls back."""
    auth_cache.user_changed(instance.pk)


def connect() -> None:
    pre_delete.connect(user_deleting, sender=User, dispatch_uid="accounts.user_deleting")
