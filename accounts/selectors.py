from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import PersonalToken, User, UserSession


def sessions_live_for(user: User) -> QuerySet[UserSession]:
    """The user's sessions that can still be refreshed, newest first."""
    return UserSession.objects.filter(
        user_id=user.pk, ended_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-created_at")


def personal_tokens_of(user: User) -> QuerySet[PersonalToken]:
    """The user's personal API tokens, expired ones included, newest first."""
    return PersonalToken.objects.filter(user_id=user.pk).order_by("-created_at", "-pk")


def user_list() -> QuerySet[User]:
    """Every user, with the groups `role` reads, for the admin endpoints."""
    return User.objects.prefetch_related("groups").order_by("id")
